"""Members and invitations of a tenant; the platform's list of users.

Rules: an invitation link carries a single-use token (stored hashed) that expires; resending
issues a new token (the old one stops working); a tenant always keeps at least one admin.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import Invitation, Membership, Role, Tenant, User
from portal.db.paging import Page, contains_any, paginate
from portal.errors import Conflict, InvalidInput, NotFound
from portal.members import mail
from portal.members.tokens import hash_token, new_token

ROLES = (Role.ADMIN.value, Role.MEMBER.value)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 320
ROLE_PROBLEM = "choose admin or member"

INVITATION_UNKNOWN = (
    "This invitation link is not valid. Check that the whole link was copied, "
    "or ask the tenant's admins for a new one."
)
INVITATION_OTHER_TENANT = "This invitation is not for this tenant."


def normalise_email(email: str) -> str:
    return email.strip().lower()


def invitation_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url}/invite/{token}"


def invitation_status(invitation: Invitation, now: datetime | None = None) -> str:
    """'accepted', 'revoked', 'expired' or 'pending'."""
    if invitation.accepted_at is not None:
        return "accepted"
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.expires_at <= (now or utcnow()):
        return "expired"
    return "pending"


def _refusal(invitation: Invitation, now: datetime) -> str | None:
    """Why this invitation cannot be accepted now, in words for the invited person; None: it can."""
    status = invitation_status(invitation, now)
    if status == "accepted":
        return (
            "This invitation has been used already: an invitation link works only once. "
            "Sign in, or ask the tenant's admins for a new invitation."
        )
    if status == "revoked":
        return (
            "This invitation was withdrawn by the tenant's admins. Ask them for a new one if you need access."
        )
    if status == "expired":
        return (
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Ask the tenant's admins to send it again."
        )
    return None


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation with its link, which exists only now (the token is stored hashed)."""

    invitation: Invitation
    link: str
    mailed: bool
    mail_problem: str | None  # why it was not mailed: the link is then shown to the inviter


@dataclass(frozen=True)
class OpenInvitation:
    """An invitation as the invited person sees it on the invitation page."""

    invitation: Invitation
    tenant: Tenant


# ---------------------------------------------------------------------------------------------
# Reading


async def list_members(db: AsyncSession, tenant_id: uuid.UUID) -> list[Membership]:
    rows = await db.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.role, User.email)
    )
    return list(rows.unique())


async def list_pending_invitations(db: AsyncSession, tenant_id: uuid.UUID) -> list[Invitation]:
    """Invitations not yet accepted or revoked (expired ones included, to be resent or revoked)."""
    rows = await db.scalars(
        select(Invitation)
        .where(
            Invitation.tenant_id == tenant_id,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(rows)


async def find_invitation(
    db: AsyncSession, tenant_id: uuid.UUID, invitation_id: str | uuid.UUID
) -> Invitation:
    try:
        wanted = invitation_id if isinstance(invitation_id, uuid.UUID) else uuid.UUID(str(invitation_id))
    except ValueError:
        raise NotFound("Invitation not found") from None
    invitation = await db.scalar(
        select(Invitation).where(Invitation.id == wanted, Invitation.tenant_id == tenant_id)
    )
    if invitation is None:
        raise NotFound("Invitation not found")
    return invitation


async def find_member(db: AsyncSession, tenant_id: uuid.UUID, user_id: str | uuid.UUID) -> Membership:
    try:
        wanted = user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("Member not found") from None
    membership = await db.scalar(
        select(Membership).where(Membership.user_id == wanted, Membership.tenant_id == tenant_id)
    )
    if membership is None:
        raise NotFound("Member not found")
    return membership


async def open_invitation(db: AsyncSession, token: str) -> OpenInvitation:
    """The invitation behind a link, if it can still be accepted; else NotFound/InvalidInput saying why."""
    invitation = await _by_token(db, token)
    reason = _refusal(invitation, utcnow())
    if reason:
        raise InvalidInput({"token": reason}, reason)
    tenant = await db.get(Tenant, invitation.tenant_id)
    if tenant is None:  # pragma: no cover - invitations go with their tenant (ON DELETE CASCADE)
        raise NotFound(INVITATION_UNKNOWN)
    return OpenInvitation(invitation, tenant)


async def _by_token(db: AsyncSession, token: str) -> Invitation:
    token = (token or "").strip()
    if not token or len(token) > 200:
        raise NotFound(INVITATION_UNKNOWN)
    invitation = await db.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None:
        raise NotFound(INVITATION_UNKNOWN)
    return invitation


# ---------------------------------------------------------------------------------------------
# Invitations


def _check_role(role: str, errors: dict[str, str]) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        errors["role"] = ROLE_PROBLEM
    return role


async def invite(
    db: AsyncSession, settings: Settings, actor: Actor, tenant: Tenant, *, email: str, role: str
) -> IssuedInvitation:
    """Invite someone by e-mail with a role; the link is mailed where a mail server is configured."""
    errors: dict[str, str] = {}
    email = normalise_email(email)
    if not email:
        errors["email"] = "required: the e-mail address to invite, e.g. ada@example.com"
    elif len(email) > EMAIL_MAX or not EMAIL_PATTERN.fullmatch(email):
        errors["email"] = "not an e-mail address; use the form name@example.com"
    role = _check_role(role, errors)
    if errors:
        raise InvalidInput(errors)
    member = await db.scalar(
        select(User.id)
        .join(Membership, Membership.user_id == User.id)
        .where(func.lower(User.email) == email, Membership.tenant_id == tenant.id)
    )
    if member is not None:
        raise InvalidInput({"email": f"{email} is a member of {tenant.name} already"})
    open_one = await db.scalar(
        select(Invitation.id).where(
            Invitation.tenant_id == tenant.id,
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    )
    if open_one is not None:
        raise InvalidInput({"email": f"{email} has an open invitation already: resend or revoke it below"})
    token, token_hash = new_token()
    invitation = Invitation(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        email=email,
        role=role,
        token_hash=token_hash,
        invited_by=actor.label,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(days=settings.invitation_ttl_days),
    )
    db.add(invitation)
    await audit.record(
        db,
        actor,
        "invitation.created",
        tenant_id=tenant.id,
        target=f"invitation:{email}",
        details={"invitation_id": str(invitation.id), "email": email, "role": role},
    )
    await db.commit()
    return await _deliver(settings, actor, tenant, invitation, token)


async def resend_invitation(
    db: AsyncSession, settings: Settings, actor: Actor, tenant: Tenant, invitation_id: str | uuid.UUID
) -> IssuedInvitation:
    """A new token and a new expiry; the old link stops working at once."""
    invitation = await find_invitation(db, tenant.id, invitation_id)
    status = invitation_status(invitation)
    if status in {"accepted", "revoked"}:
        raise Conflict(f"This invitation was {status} already; invite {invitation.email} again instead")
    token, token_hash = new_token()
    invitation.token_hash = token_hash
    invitation.expires_at = utcnow() + timedelta(days=settings.invitation_ttl_days)
    await audit.record(
        db,
        actor,
        "invitation.resent",
        tenant_id=tenant.id,
        target=f"invitation:{invitation.email}",
        details={"invitation_id": str(invitation.id), "email": invitation.email, "role": invitation.role},
    )
    await db.commit()
    return await _deliver(settings, actor, tenant, invitation, token)


async def _deliver(
    settings: Settings, actor: Actor, tenant: Tenant, invitation: Invitation, token: str
) -> IssuedInvitation:
    link = invitation_link(settings, token)
    problem = await mail.send_invitation(
        settings,
        mail.Invite(
            to=invitation.email,
            tenant_name=tenant.name,
            role=invitation.role,
            link=link,
            inviter=actor.label,
            expires=f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC",
        ),
    )
    return IssuedInvitation(invitation, link, mailed=problem is None, mail_problem=problem)


async def revoke_invitation(
    db: AsyncSession, actor: Actor, tenant: Tenant, invitation_id: str | uuid.UUID
) -> Invitation:
    invitation = await find_invitation(db, tenant.id, invitation_id)
    status = invitation_status(invitation)
    if status in {"accepted", "revoked"}:
        raise Conflict(f"This invitation was {status} already")
    invitation.revoked_at = utcnow()
    await audit.record(
        db,
        actor,
        "invitation.revoked",
        tenant_id=tenant.id,
        target=f"invitation:{invitation.email}",
        details={"invitation_id": str(invitation.id), "email": invitation.email, "role": invitation.role},
    )
    await db.commit()
    return invitation


async def accept_invitation(
    db: AsyncSession, actor: Actor, *, token: str, user: User, tenant_id: uuid.UUID
) -> Membership:
    """Make `user` (whose identity the tenant's provider has just verified) a member with the invited role.

    Refuses a used, expired, revoked, unknown or other tenant's token with InvalidInput or
    NotFound whose message is meant for the person. A refusal writes nothing: the caller rolls
    back and audits it like its other sign-in refusals. On success the membership, the
    invitation's acceptance and the audit event are committed in one transaction; of two
    concurrent acceptances of one token exactly one wins (a conditional UPDATE decides).
    An existing admin keeps the admin role when invited as a member: invitations never take rights away.
    """
    user_id, user_email = user.id, user.email
    invitation = await _by_token(db, token)
    if invitation.tenant_id != tenant_id:
        raise NotFound(INVITATION_OTHER_TENANT)
    now = utcnow()
    if reason := _refusal(invitation, now):
        raise InvalidInput({"token": reason}, reason)
    if user_id is None:
        user.id = user_id = uuid.uuid4()
    await db.flush()  # a user the caller has just added exists before the membership refers to it
    won = await db.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.token_hash == invitation.token_hash,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by=user_id)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        # Someone else accepted, or an admin revoked or resent it, between our read and our write.
        await db.refresh(invitation)
        reason = _refusal(invitation, now) or "This invitation has been used already."
        raise InvalidInput({"token": reason}, reason)
    await db.refresh(invitation)
    membership = await db.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.tenant_id == tenant_id)
    )
    previous = membership.role if membership else None
    if membership is None:
        membership = Membership(user_id=user_id, tenant_id=tenant_id, role=invitation.role, created_at=now)
        db.add(membership)
    elif not (membership.role == Role.ADMIN and invitation.role == Role.MEMBER):
        membership.role = invitation.role
    who = (
        actor
        if actor.user_id
        else Actor(label=user_email, user_id=user_id, ip=actor.ip, user_agent=actor.user_agent)
    )
    await audit.record(
        db,
        who,
        "invitation.accepted",
        tenant_id=tenant_id,
        target=f"user:{user_email}",
        details={
            "invitation_id": str(invitation.id),
            "invited_email": invitation.email,
            "role": membership.role,
            "previous_role": previous,
        },
    )
    try:
        await db.commit()
    except IntegrityError as exc:
        await db.rollback()
        raise Conflict("The membership changed at the same time; sign in again") from exc
    await db.refresh(membership)
    return membership


# ---------------------------------------------------------------------------------------------
# Members


async def _lock_tenant(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise membership changes of one tenant (PostgreSQL row lock; SQLite writers are serial)."""
    await db.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


async def _admin_count(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    return (
        await db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.role == Role.ADMIN)
        )
        or 0
    )


def _last_admin(tenant: Tenant, membership: Membership) -> Conflict:
    return Conflict(
        f"{membership.user.email} is the last admin of {tenant.name}: make another member admin first"
    )


async def change_role(
    db: AsyncSession, actor: Actor, tenant: Tenant, user_id: str | uuid.UUID, role: str
) -> Membership:
    errors: dict[str, str] = {}
    role = _check_role(role, errors)
    if errors:
        raise InvalidInput(errors)
    await _lock_tenant(db, tenant.id)
    membership = await find_member(db, tenant.id, user_id)
    if membership.role == role:
        return membership
    if membership.role == Role.ADMIN and await _admin_count(db, tenant.id) <= 1:
        raise _last_admin(tenant, membership)
    previous = membership.role
    membership.role = role
    await audit.record(
        db,
        actor,
        "member.role_changed",
        tenant_id=tenant.id,
        target=f"user:{membership.user.email}",
        details={"user_id": str(membership.user_id), "from": previous, "to": role},
    )
    await db.commit()
    return membership


async def remove_member(db: AsyncSession, actor: Actor, tenant: Tenant, user_id: str | uuid.UUID) -> str:
    """Remove the membership (the person's other tenants stay); returns the removed person's e-mail."""
    await _lock_tenant(db, tenant.id)
    membership = await find_member(db, tenant.id, user_id)
    if membership.role == Role.ADMIN and await _admin_count(db, tenant.id) <= 1:
        raise _last_admin(tenant, membership)
    email, role = membership.user.email, membership.role
    # Every session of the person ends: none keeps what it learnt or held of this tenant.
    membership.user.sessions_not_before = utcnow()
    await db.delete(membership)
    await audit.record(
        db,
        actor,
        "member.removed",
        tenant_id=tenant.id,
        target=f"user:{email}",
        details={"user_id": str(membership.user_id), "role": role},
    )
    await db.commit()
    return email


# ---------------------------------------------------------------------------------------------
# The platform's users


@dataclass(frozen=True)
class UserRow:
    user: User
    memberships: list[Membership]


USER_ROLE_FILTERS = ("admin", "member", "platform_admin")


async def list_users(
    db: AsyncSession,
    *,
    tenant: Tenant | None = None,
    role: str = "",
    q: str = "",
    page: int = 1,
    per_page: int = 50,
) -> Page[UserRow]:
    """Every user, filtered by tenant (members of it), role (admin/member in that tenant or in any,
    or platform_admin) and a search on e-mail and name."""
    if role and role not in USER_ROLE_FILTERS:
        raise InvalidInput({"role": "choose admin, member or platform_admin"})
    query = select(User)
    membership = select(Membership.user_id).where(Membership.user_id == User.id)
    if tenant is not None:
        membership = membership.where(Membership.tenant_id == tenant.id)
    if role in ("admin", "member"):
        membership = membership.where(Membership.role == role)
    if tenant is not None or role in ("admin", "member"):
        query = query.where(exists(membership))
    if role == "platform_admin":
        query = query.where(User.is_platform_admin.is_(True))
    if q.strip():
        query = query.where(contains_any(q, User.email, User.name))
    found = await paginate(db, query, page=page, per_page=per_page, order_by=(User.email,))
    users = found.items
    by_user: dict[uuid.UUID, list[Membership]] = {u.id: [] for u in users}
    if users:
        rows = await db.scalars(
            select(Membership)
            .join(Tenant, Tenant.id == Membership.tenant_id)
            .where(Membership.user_id.in_(list(by_user)))
            .order_by(Tenant.slug)
        )
        for m in rows.unique():
            by_user[m.user_id].append(m)
    return Page([UserRow(u, by_user[u.id]) for u in users], found.total, found.page, found.per_page)
