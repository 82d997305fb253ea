"""The invitation or member named in the path, of the tenant in the path: 404 when it is not there."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeAlias, TypeVar

from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Invitation, Membership
from portal.members.invitations import find_invitation
from portal.members.memberships import find_member
from portal.tenants.deps import CurrentTenant
from portal.web.deps import Db

T = TypeVar("T")

PathInvitation: TypeAlias = NamedDependency[Invitation]
PathMembership: TypeAlias = NamedDependency[Membership]


async def _or_release(db: AsyncSession, found: Awaitable[T]) -> T:
    try:
        return await found
    except BaseException:
        # As in portal.tenants.deps: Litestar does not clean up the `db` generator dependency when
        # a later one raises, so the session gives its connection (and SQLite's lock) back here.
        await db.close()
        raise


async def provide_invitation(db: Db, tenant: CurrentTenant, invitation_id: FromPath[str]) -> Invitation:
    return await _or_release(db, find_invitation(db, tenant.id, invitation_id))


async def provide_membership(db: Db, tenant: CurrentTenant, user_id: FromPath[str]) -> Membership:
    return await _or_release(db, find_member(db, tenant.id, user_id))
