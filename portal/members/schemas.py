"""The members' JSON bodies and answers, and the member pages' HTML forms."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar.enums import RequestEncodingType
from litestar.params import Body

from portal.db.models import Invitation, Membership
from portal.inputs import Input
from portal.members.invitations import IssuedInvitation, invitation_status
from portal.members.users import UserRow


class InvitationCreate(Input):
    email: str
    role: str = "member"


class MemberUpdate(Input):
    role: str


class InviteForm(msgspec.Struct):
    """The invitation form (every field optional: a browser may leave one out)."""

    email: str = ""
    role: str = ""


class RoleForm(msgspec.Struct):
    role: str = ""


InviteData = Annotated[InviteForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
RoleData = Annotated[RoleForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


class MemberOut(msgspec.Struct):
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    joined_at: datetime

    @classmethod
    def of(cls, m: Membership) -> MemberOut:
        return cls(m.user_id, m.user.email, m.user.name, m.role, m.created_at)


class InvitationOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    role: str
    status: str  # pending | expired | accepted | revoked
    invited_by: str
    created_at: datetime
    expires_at: datetime
    # Only in the answer that issued the token, and only where it was not mailed.
    link: str | None = None
    mailed: bool | None = None
    mail_problem: str | None = None

    @classmethod
    def of(cls, i: Invitation) -> InvitationOut:
        return cls(i.id, i.email, i.role, invitation_status(i), i.invited_by, i.created_at, i.expires_at)

    @classmethod
    def issued(cls, issued: IssuedInvitation) -> InvitationOut:
        out = cls.of(issued.invitation)
        out.mailed = issued.mailed
        out.mail_problem = issued.mail_problem
        out.link = None if issued.mailed else issued.link
        return out


class TenantUsers(msgspec.Struct):
    members: list[MemberOut]
    invitations: list[InvitationOut]


class UserMembershipOut(msgspec.Struct):
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    role: str


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    is_platform_admin: bool
    created_at: datetime
    last_login_at: datetime | None
    memberships: list[UserMembershipOut]

    @classmethod
    def of(cls, row: UserRow) -> UserOut:
        u = row.user
        return cls(
            u.id,
            u.email,
            u.name,
            u.is_platform_admin,
            u.created_at,
            u.last_login_at,
            [UserMembershipOut(m.tenant_id, m.tenant.slug, m.tenant.name, m.role) for m in row.memberships],
        )


class UserList(msgspec.Struct):
    users: list[UserOut]
    total: int
    page: int
    per_page: int
