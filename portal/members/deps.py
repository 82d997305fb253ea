"""The invitation or member named in the path, of the tenant in the path: 404 when it is not there."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Invitation, Membership, Tenant
from portal.members.invitations import find_invitation
from portal.members.memberships import find_member

T = TypeVar("T")


async def _or_release(db: AsyncSession, found: Awaitable[T]) -> T:
    try:
        return await found
    except BaseException:
        # As in portal.tenants.deps: Litestar does not clean up the `db` generator dependency when
        # a later one raises, so the session gives its connection (and SQLite's lock) back here.
        await db.close()
        raise


async def provide_invitation(db: AsyncSession, tenant: Tenant, invitation_id: str) -> Invitation:
    return await _or_release(db, find_invitation(db, tenant.id, invitation_id))


async def provide_membership(db: AsyncSession, tenant: Tenant, user_id: str) -> Membership:
    return await _or_release(db, find_member(db, tenant.id, user_id))
