"""Member pages: a tenant's members and invitations, and the platform's users."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Tenant
from portal.errors import Conflict, InvalidInput, NotFound
from portal.members import invitations, memberships, users
from portal.members.deps import PathInvitation, PathMembership, provide_invitation, provide_membership
from portal.members.schemas import InviteData, RoleData
from portal.tenants.deps import CurrentTenant, provide_tenant_by_slug
from portal.tenants.services import find_tenant, list_tenants
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.paging import page_parameter
from portal.web.templating import Confirmation, confirm_page, redirect_after_change, render, tenant_page

TEMPLATE = "members/index.html"


def _url(tenant: Tenant) -> str:
    return f"/t/{tenant.slug}/members"


def _confirm(
    request: Request[Any, Any, Any], tenant: Tenant, what: str, question: str, detail: str, action: str
) -> Response[Any]:
    """The confirmation page of `what` (also its button), posting to `action` below the members page."""
    base = _url(tenant)
    confirm = Confirmation(what, question, detail, f"{base}/{action}", what, base)
    return confirm_page(request, confirm, **tenant_page(tenant, "members"))


class MemberPages(Controller):
    path = "/t/{slug:str}/members"
    guards = [requires_tenant_admin]
    dependencies = {
        "tenant": Provide(provide_tenant_by_slug),
        "invitation": Provide(provide_invitation),
        "membership": Provide(provide_membership),
    }
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        issued: invitations.IssuedInvitation | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        context = tenant_page(
            tenant,
            "members",
            members=await memberships.list_members(db, tenant.id),
            invitations=await invitations.list_pending_invitations(db, tenant.id),
            status_of=invitations.invitation_status,
            form=form or {"role": "member"},
            errors=errors or {},
            issued=issued,
        )
        return render(request, TEMPLATE, context, status_code=status_code)

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant) -> Response[Any]:
        return await self._page(request, db, tenant)

    async def _issued(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        issued: invitations.IssuedInvitation,
        verb: str,
    ) -> Response[Any]:
        email = issued.invitation.email
        if issued.mailed:
            return redirect_after_change(request, _url(tenant), f"Invitation {verb} and mailed to {email}.")
        # The link exists only in this answer (the token is stored hashed), so this page shows it
        # instead of redirecting: it is never put in a URL, a flash or the session.
        flash(request, f"Invitation {verb} for {email}: pass the link below on to them.", "success")
        return await self._page(request, db, tenant, issued=issued)

    @post("/invitations")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: InviteData,
    ) -> Response[Any]:
        form = {"email": data.email, "role": data.role or "member"}
        try:
            issued = await invitations.invite(
                db, settings, actor, tenant, email=form["email"], role=form["role"]
            )
        except InvalidInput as exc:
            return await self._page(request, db, tenant, form=form, errors=exc.errors, status_code=400)
        return await self._issued(request, db, tenant, issued, "created")

    @post("/invitations/{invitation_id:str}/resend")
    async def resend(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        invitation: PathInvitation,
    ) -> Response[Any]:
        try:
            issued = await invitations.resend_invitation(db, settings, actor, tenant, invitation)
        except Conflict as exc:
            return redirect_after_change(request, _url(tenant), exc.message, "error")
        return await self._issued(request, db, tenant, issued, "sent again with a new link")

    @get("/invitations/{invitation_id:str}/revoke")
    async def confirm_revoke(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant, invitation: PathInvitation
    ) -> Response[Any]:
        return _confirm(
            request,
            tenant,
            "Revoke invitation",
            f"Revoke the invitation for {invitation.email}?",
            f"Invited as {invitation.role} by {invitation.invited_by}. Its link stops working at once.",
            f"invitations/{invitation.id}/revoke",
        )

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        invitation: PathInvitation,
    ) -> Response[Any]:
        try:
            await invitations.revoke_invitation(db, actor, invitation)
        except Conflict as exc:
            return redirect_after_change(request, _url(tenant), exc.message, "error")
        return redirect_after_change(
            request, _url(tenant), f"Invitation for {invitation.email} revoked: its link no longer works."
        )

    @post("/users/{user_id:str}/role")
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        user_id: FromPath[str],
        data: RoleData,
    ) -> Response[Any]:
        try:
            membership = await memberships.change_role(db, actor, tenant, user_id, data.role)
        except (Conflict, InvalidInput) as exc:
            return redirect_after_change(request, _url(tenant), exc.message, "error")
        return redirect_after_change(
            request, _url(tenant), f"{membership.user.email} is now {membership.role} of {tenant.name}."
        )

    @get("/users/{user_id:str}/remove")
    async def confirm_remove(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant, membership: PathMembership
    ) -> Response[Any]:
        person = membership.user
        return _confirm(
            request,
            tenant,
            "Remove member",
            f"Remove {person.email} from {tenant.name}?",
            f"{person.name or person.email} is {membership.role} of {tenant.name}. They lose access to it "
            "at once; their other tenants stay.",
            f"users/{membership.user_id}/remove",
        )

    @post("/users/{user_id:str}/remove")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        user_id: FromPath[str],
    ) -> Response[Any]:
        try:
            email = await memberships.remove_member(db, actor, tenant, user_id)
        except Conflict as exc:
            return redirect_after_change(request, _url(tenant), exc.message, "error")
        return redirect_after_change(request, _url(tenant), f"{email} removed from {tenant.name}.")


class AdminUserPages(Controller):
    path = "/admin/users"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        tenant: FromQuery[str] = "",
        role: FromQuery[str] = "",
        q: FromQuery[str] = "",
        page: int = page_parameter(),
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        found = None
        if tenant:
            try:
                found = await find_tenant(db, tenant)
            except NotFound:
                errors["tenant"] = f"no tenant {tenant}"
        if role and role not in users.USER_ROLE_FILTERS:
            errors["role"] = "choose admin, member or platform admin"
            role = ""
        result = await users.list_users(db, tenant=found, role=role, q=q, page=page, per_page=50)
        if errors.get("tenant"):
            result = type(result)([], 0, 1, 50)
        tenants = await list_tenants(db, per_page=200)
        context = {
            "nav": "users",
            "result": result,
            "tenants": tenants.items,
            "filters": {"tenant": tenant, "role": role, "q": q},
            "errors": errors,
        }
        return render(request, "admin/users.html", context)
