"""Who may come in once the provider has vouched for them: members, invited people, JIT joiners.

People are identified by (issuer, subject) in `identities`, never by e-mail alone. An e-mail only
ever decides something (the domain for just-in-time provisioning, the address of a new account,
linking a second provider to an existing account) when the provider has not said it is unverified.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.base import utcnow
from portal.db.models import Identity, IdentityProvider, Membership, Role, Tenant, User
from portal.errors import InvalidInput, NotFound, ServiceError
from portal.identity.oidc.client import VerifiedPerson
from portal.identity.oidc.refusals import SignInRefused, unavailable
from portal.members.invitations import accept_invitation


@dataclass(frozen=True)
class Admission:
    user_id: uuid.UUID
    email: str
    role: str
    via: str  # "member" | "invitation" | "jit"


async def idp_of(db: AsyncSession, tenant_id: uuid.UUID) -> IdentityProvider | None:
    return await db.scalar(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant_id))


async def enabled_provider(
    db: AsyncSession, tenant: Tenant, *, issuer: str | None = None
) -> IdentityProvider:
    """The tenant's identity provider when it is switched on (and still `issuer`, when given)."""
    idp = await idp_of(db, tenant.id)
    if idp is None or not idp.enabled or (issuer is not None and idp.issuer != issuer):
        raise unavailable(tenant.name)
    return idp


def mapped_role(role_mapping: dict[str, Any], claims: dict[str, Any]) -> str:
    """Admin when the mapped claim carries one of the admin values; member otherwise."""
    claim = role_mapping.get("claim")
    admin_values = set(role_mapping.get("admin_values") or [])
    if not claim or not admin_values:
        return Role.MEMBER.value
    value = claims.get(claim)
    values = value if isinstance(value, list) else [value]
    return (
        Role.ADMIN.value
        if any(isinstance(v, str) and v in admin_values for v in values)
        else Role.MEMBER.value
    )


def _not_member(tenant_name: str) -> SignInRefused:
    return SignInRefused(
        "not_a_member",
        f"You are not a member of {tenant_name}. Ask one of its admins to invite you, then open the "
        "invitation link.",
    )


class LinkNeeded(Exception):
    """The new sign-in would reach the account the person is signed in to: they must confirm it."""

    def __init__(self, email: str) -> None:
        super().__init__(email)
        self.email = email


def email_is_verified(person: VerifiedPerson, idp: IdentityProvider) -> bool:
    """Verified when the provider says so, or (no claim at all) when its settings say its e-mails are."""
    if person.email_verified is None:
        return bool(idp.emails_verified)
    return person.email_verified


def _usable_email(person: VerifiedPerson, idp: IdentityProvider, purpose: str) -> str:
    """The e-mail when it may decide something; refused when missing or not known to be verified."""
    if not person.email:
        raise SignInRefused(
            "no_email",
            f"Your identity provider did not send an e-mail address, which is needed to {purpose}. "
            "Ask your organisation's administrators to release the email claim to the portal.",
        )
    if person.email_verified is False:
        raise SignInRefused(
            "email_unverified",
            f"Your identity provider says your e-mail address {person.email} is not verified, so it cannot "
            f"be used to {purpose}. Verify it with your provider, then sign in again.",
        )
    if not email_is_verified(person, idp):
        raise SignInRefused(
            "email_unverified",
            f"Your identity provider did not say that your e-mail address {person.email} is verified, so it "
            f"cannot be used to {purpose}. If that provider verifies every address (Entra ID does, without "
            "saying so), your organisation's admins can say so in its single sign-on settings.",
        )
    return person.email


async def _account_for(
    db: AsyncSession,
    person: VerifiedPerson,
    idp: IdentityProvider,
    *,
    signed_in_user_id: uuid.UUID | None,
    link_confirmed: bool,
    purpose: str,
) -> User:
    """A new account for this person; never an existing one by e-mail alone. The account the person
    is signed in to only once they confirm the link (LinkNeeded), and never a platform admin's."""
    email = _usable_email(person, idp, purpose)
    existing = await db.scalar(select(User).where(func.lower(User.email) == email))
    if existing is None:
        user = User(id=uuid.uuid4(), email=email, name=person.name[:200] or email.split("@")[0])
        db.add(user)
        await db.flush()  # the user row exists before rows that refer to it (no ORM relationship orders them)
        return user
    if existing.is_platform_admin:
        raise SignInRefused(
            "platform_admin_link",
            f"The e-mail {email} belongs to a platform admin account here. Platform admin accounts sign in "
            "with their password and second factor only; an organisation's identity provider cannot reach "
            "them.",
        )
    if existing.id != signed_in_user_id:
        raise SignInRefused(
            "email_taken",
            f"An account with the e-mail {email} exists already here, reached through another sign-in. "
            "To use this sign-in for it too, sign in to that account first, then start again: you will "
            "be asked to confirm the link.",
        )
    if not link_confirmed:
        raise LinkNeeded(email)
    return existing


def _may_join_by_themselves(person: VerifiedPerson, idp: IdentityProvider, tenant_name: str) -> None:
    """SignInRefused unless just-in-time provisioning lets this person join the tenant."""
    if not idp.jit_provisioning:
        raise _not_member(tenant_name)
    _usable_email(person, idp, f"join {tenant_name}")
    if person.domain not in set(idp.allowed_domains or []):
        raise SignInRefused(
            "domain_not_allowed",
            f"People with @{person.domain} addresses cannot join {tenant_name} by themselves. "
            "Ask one of its admins to invite you.",
        )


async def admit(
    db: AsyncSession,
    actor: Actor,
    tenant: Tenant,
    idp: IdentityProvider,
    person: VerifiedPerson,
    *,
    invitation_token: str | None = None,
    signed_in_user_id: uuid.UUID | None = None,
    link_confirmed: bool = False,
) -> Admission:
    """Let the person in as an existing member, through their invitation, or by just-in-time
    provisioning, audited; the caller's unit of work commits. SignInRefused says why not (the caller
    rolls back what was flushed)."""
    tenant_id, tenant_name, tenant_slug = tenant.id, tenant.name, tenant.slug
    identity = await db.scalar(
        select(Identity).where(Identity.issuer == person.issuer, Identity.subject == person.subject)
    )
    user = await db.get(User, identity.user_id) if identity is not None else None
    membership = (
        await db.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant_id)
        )
        if user is not None
        else None
    )
    if membership is None and invitation_token is None:
        _may_join_by_themselves(person, idp, tenant_name)

    now = utcnow()
    purpose = "accept the invitation" if invitation_token else f"join {tenant_name}"
    if user is None:
        user = await _account_for(
            db,
            person,
            idp,
            signed_in_user_id=signed_in_user_id,
            link_confirmed=link_confirmed,
            purpose=purpose,
        )
    if identity is None:
        identity = Identity(
            id=uuid.uuid4(),
            user_id=user.id,
            issuer=person.issuer,
            subject=person.subject,
            email_at_link=person.email if email_is_verified(person, idp) else None,
            created_at=now,
        )
        db.add(identity)
        if link_confirmed:
            await audit.record(
                db,
                actor.as_person(user.email, user.id),
                "identity.linked",
                tenant_id=tenant_id,
                target=f"user:{user.email}",
                details={"issuer": person.issuer, "subject": person.subject},
            )
    identity.last_seen_at = now
    user.last_login_at = now
    if not user.name and person.name:
        user.name = person.name[:200]
    who = actor.as_person(user.email, user.id)
    via = "member"

    if invitation_token is not None:
        try:
            membership = await accept_invitation(
                db, who, token=invitation_token, user=user, tenant_id=tenant_id
            )
        except (InvalidInput, NotFound) as exc:
            raise SignInRefused("invitation_refused", exc.message) from exc
        except ServiceError as exc:
            raise SignInRefused("invitation_refused", exc.message, status_code=409) from exc
        via = "invitation"
    elif membership is None:
        role = mapped_role(idp.role_mapping or {}, person.claims)
        membership = Membership(user_id=user.id, tenant_id=tenant_id, role=role, created_at=now)
        db.add(membership)
        via = "jit"
        await audit.record(
            db,
            who,
            "membership.provisioned",
            tenant_id=tenant_id,
            target=f"user:{user.email}",
            details={"via": "jit", "role": role, "issuer": person.issuer, "domain": person.domain},
        )
    role = membership.role
    await audit.record(
        db,
        who,
        "auth.sign_in",
        tenant_id=tenant_id,
        target=f"user:{user.email}",
        details={"method": "oidc", "issuer": person.issuer, "via": via, "role": role, "tenant": tenant_slug},
    )
    try:
        await db.flush()
    except IntegrityError as exc:
        raise SignInRefused(
            "conflict",
            "Your account changed at the same moment elsewhere; please sign in again.",
            status_code=409,
        ) from exc
    return Admission(user_id=user.id, email=user.email, role=role, via=via)
