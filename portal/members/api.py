"""JSON API: a tenant's members and invitations; the platform's users."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody, Parameter

from portal.members import invitations, memberships, users
from portal.members.deps import PathInvitation, provide_invitation
from portal.members.schemas import (
    InvitationCreate,
    InvitationOut,
    MemberOut,
    MemberUpdate,
    TenantUsers,
    UserList,
    UserOut,
)
from portal.tenants.deps import CurrentTenant, provide_tenant_by_id
from portal.tenants.services import find_tenant
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.openapi import CHANGE, READ
from portal.web.paging import PAGING, Paged


class MembersApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}"
    tags = ["members"]
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_id), "invitation": Provide(provide_invitation)}

    @get("/users", responses=READ)
    async def list_users(self, db: Db, tenant: CurrentTenant) -> TenantUsers:
        """The tenant's members and its pending (or expired, not yet revoked) invitations."""
        members = await memberships.list_members(db, tenant.id)
        pending = await invitations.list_pending_invitations(db, tenant.id)
        return TenantUsers([MemberOut.of(m) for m in members], [InvitationOut.of(i) for i in pending])

    @post("/invitations", responses=CHANGE)
    async def invite(
        self,
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: JSONBody[InvitationCreate],
    ) -> InvitationOut:
        """Invite by e-mail with a role (admin or member). Mailed when SMTP_URL is set; otherwise
        (or when mailing failed) the answer holds the link to pass on; it is never shown again."""
        issued = await invitations.invite(db, settings, actor, tenant, email=data.email, role=data.role)
        return InvitationOut.issued(issued)

    @post("/invitations/{invitation_id:str}/resend", status_code=200, responses=CHANGE)
    async def resend(
        self,
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        invitation: PathInvitation,
    ) -> InvitationOut:
        """A new token and expiry; the previous link stops working."""
        issued = await invitations.resend_invitation(db, settings, actor, tenant, invitation)
        return InvitationOut.issued(issued)

    @delete("/invitations/{invitation_id:str}", responses=CHANGE)
    async def revoke(self, db: Db, actor: CurrentActor, invitation: PathInvitation) -> None:
        await invitations.revoke_invitation(db, actor, invitation)

    @patch("/users/{user_id:str}", responses=CHANGE)
    async def change_role(
        self,
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        user_id: FromPath[str],
        data: JSONBody[MemberUpdate],
    ) -> MemberOut:
        """Change a member's role; 409 for the tenant's last admin."""
        return MemberOut.of(await memberships.change_role(db, actor, tenant, user_id, data.role))

    @delete("/users/{user_id:str}", responses=CHANGE)
    async def remove(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant, user_id: FromPath[str]
    ) -> None:
        """Remove a member from this tenant; 409 for the tenant's last admin."""
        await memberships.remove_member(db, actor, tenant, user_id)


class AdminUsersApi(Controller):
    path = "/api/v1/admin/users"
    tags = ["users"]
    guards = [requires_platform_admin]

    @get("/", dependencies=PAGING, responses=READ)
    async def list_users(
        self,
        db: Db,
        paging: Paged,
        tenant: str = Parameter(default="", description="A tenant's id or slug: its members only"),
        role: str = Parameter(
            default="", description="admin, member (in that tenant, or any) or platform_admin"
        ),
        q: str = Parameter(default="", description="Part of an e-mail or name"),
    ) -> UserList:
        """Every user of the portal with their memberships."""
        found = await find_tenant(db, tenant) if tenant else None
        result = await users.list_users(
            db, tenant=found, role=role, q=q, page=paging.page, per_page=paging.per_page
        )
        return UserList([UserOut.of(r) for r in result.items], result.total, result.page, result.per_page)
