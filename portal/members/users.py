"""The platform's users: every account with its memberships, filtered and searched (platform admins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Membership, Tenant, User
from portal.db.paging import Page, contains_any, paginate
from portal.errors import InvalidInput

USER_ROLE_FILTERS = ("admin", "member", "platform_admin")


@dataclass(frozen=True)
class UserRow:
    user: User
    memberships: list[Membership]


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
