"""A tenant's members: listing, changing a role, removing; a tenant always keeps at least one admin."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.base import utcnow
from portal.db.models import Membership, Role, Tenant, User
from portal.errors import Conflict, InvalidInput, found, id_or_404

ROLES = (Role.ADMIN.value, Role.MEMBER.value)
ROLE_PROBLEM = "choose admin or member"


def check_role(role: str, errors: dict[str, str]) -> str:
    """The role, trimmed and lower-cased; a problem beside `role` in `errors` when it is not one."""
    role = (role or "").strip().lower()
    if role not in ROLES:
        errors["role"] = ROLE_PROBLEM
    return role


async def list_members(db: AsyncSession, tenant_id: uuid.UUID) -> list[Membership]:
    rows = await db.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.role, User.email)
    )
    return list(rows.unique())


async def find_member(db: AsyncSession, tenant_id: uuid.UUID, user_id: str | uuid.UUID) -> Membership:
    wanted = id_or_404(user_id, "Member")
    query = select(Membership).where(Membership.user_id == wanted, Membership.tenant_id == tenant_id)
    return found(await db.scalar(query), "Member")


async def _lock_tenant(db: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Serialise membership changes of one tenant (PostgreSQL row lock; SQLite writers are serial)."""
    await db.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())


async def _locked_member(db: AsyncSession, tenant: Tenant, user_id: str | uuid.UUID) -> Membership:
    """The member, read once the tenant's membership changes are serialised."""
    await _lock_tenant(db, tenant.id)
    return await find_member(db, tenant.id, user_id)


async def _keep_an_admin(db: AsyncSession, tenant: Tenant, membership: Membership) -> None:
    """Refuse to demote or remove the tenant's last admin."""
    if membership.role == Role.ADMIN and await _admin_count(db, tenant.id) <= 1:
        raise Conflict(
            f"{membership.user.email} is the last admin of {tenant.name}: make another member admin first"
        )


async def _admin_count(db: AsyncSession, tenant_id: uuid.UUID) -> int:
    return (
        await db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.role == Role.ADMIN)
        )
        or 0
    )


async def change_role(
    db: AsyncSession, actor: Actor, tenant: Tenant, user_id: str | uuid.UUID, role: str
) -> Membership:
    errors: dict[str, str] = {}
    role = check_role(role, errors)
    if errors:
        raise InvalidInput(errors)
    membership = await _locked_member(db, tenant, user_id)
    if membership.role == role:
        return membership
    await _keep_an_admin(db, tenant, membership)
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
    await db.flush()
    return membership


async def remove_member(db: AsyncSession, actor: Actor, tenant: Tenant, user_id: str | uuid.UUID) -> str:
    """Remove the membership (the person's other tenants stay); returns the removed person's e-mail."""
    membership = await _locked_member(db, tenant, user_id)
    await _keep_an_admin(db, tenant, membership)
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
    await db.flush()
    return email
