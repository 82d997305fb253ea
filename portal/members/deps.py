"""The invitation or member named in the path, of the tenant in the path: 404 when it is not there."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency
from litestar.params import FromPath

from portal.db.models import Invitation, Membership
from portal.members.invitations import find_invitation
from portal.members.memberships import find_member
from portal.tenants.deps import CurrentTenant, load_or_release
from portal.web.deps import Db

PathInvitation: TypeAlias = NamedDependency[Invitation]
PathMembership: TypeAlias = NamedDependency[Membership]


async def provide_invitation(db: Db, tenant: CurrentTenant, invitation_id: FromPath[str]) -> Invitation:
    return await load_or_release(db, find_invitation(db, tenant.id, invitation_id))


async def provide_membership(db: Db, tenant: CurrentTenant, user_id: FromPath[str]) -> Membership:
    return await load_or_release(db, find_member(db, tenant.id, user_id))
