"""Invitations to a tenant: issuing, resending and revoking them, and accepting one.

Rules: an invitation link carries a single-use token (stored hashed) that expires; resending
issues a new token (the old one stops working); accepting never takes rights away.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import Invitation, Membership, Role, Tenant, User
from portal.errors import Conflict, InvalidInput, NotFound, found, id_or_404
from portal.members import mail
from portal.members.memberships import check_role
from portal.members.tokens import hash_token, new_token

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 320

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
    wanted = id_or_404(invitation_id, "Invitation")
    query = select(Invitation).where(Invitation.id == wanted, Invitation.tenant_id == tenant_id)
    return found(await db.scalar(query), "Invitation")


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
    role = check_role(role, errors)
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
    await _audit(db, actor, "invitation.created", invitation)
    return await _deliver(settings, actor, tenant, invitation, token)


async def resend_invitation(
    db: AsyncSession, settings: Settings, actor: Actor, tenant: Tenant, invitation: Invitation
) -> IssuedInvitation:
    """A new token and a new expiry; the old link stops working at once."""
    status = invitation_status(invitation)
    if status in {"accepted", "revoked"}:
        raise Conflict(f"This invitation was {status} already; invite {invitation.email} again instead")
    token, token_hash = new_token()
    invitation.token_hash = token_hash
    invitation.expires_at = utcnow() + timedelta(days=settings.invitation_ttl_days)
    await _audit(db, actor, "invitation.resent", invitation)
    return await _deliver(settings, actor, tenant, invitation, token)


async def _audit(db: AsyncSession, actor: Actor, action: str, invitation: Invitation) -> None:
    """An invitation's event (created, resent, revoked), written with the change."""
    await audit.record(
        db,
        actor,
        action,
        tenant_id=invitation.tenant_id,
        target=f"invitation:{invitation.email}",
        details={"invitation_id": str(invitation.id), "email": invitation.email, "role": invitation.role},
    )
    await db.flush()


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


async def revoke_invitation(db: AsyncSession, actor: Actor, invitation: Invitation) -> Invitation:
    status = invitation_status(invitation)
    if status in {"accepted", "revoked"}:
        raise Conflict(f"This invitation was {status} already")
    invitation.revoked_at = utcnow()
    await _audit(db, actor, "invitation.revoked", invitation)
    return invitation


async def accept_invitation(
    db: AsyncSession, actor: Actor, *, token: str, user: User, tenant_id: uuid.UUID
) -> Membership:
    """Make `user` (whose identity the tenant's provider has just verified) a member with the invited role.

    Refuses a used, expired, revoked, unknown or other tenant's token with InvalidInput or
    NotFound whose message is meant for the person. A refusal writes nothing: the caller rolls
    back and audits it like its other sign-in refusals. On success the membership, the
    invitation's acceptance and the audit event are flushed, for the caller's unit of work; of two
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
    who = actor if actor.user_id else actor.as_person(user_email, user_id)
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
        await db.flush()
    except IntegrityError as exc:
        raise Conflict("The membership changed at the same time; sign in again") from exc
    await db.refresh(membership)
    return membership
