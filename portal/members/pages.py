"""Member pages: a tenant's members and invitations, and the platform's users."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash

from portal.errors import Conflict, InvalidInput, NotFound
from portal.members import invitations, memberships, users
from portal.members.deps import PathInvitation, PathMembership, provide_invitation, provide_membership
from portal.members.schemas import InviteData, RoleData
from portal.tenants.deps import PageCtx, page_of
from portal.tenants.services import find_tenant, list_tenants
from portal.web.deps import Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.paging import Paged, paging_of
from portal.web.templating import Confirmation, TenantPage, render

TEMPLATE = "members/index.html"


def _confirm(ctx: TenantPage, what: str, question: str, detail: str, action: str) -> Response[Any]:
    """The confirmation page of `what` (also its button), posting to `action` below the members page."""
    base = f"{ctx.url}/members"
    return ctx.confirm(Confirmation(what, question, detail, f"{base}/{action}", what, base))


async def _page(
    ctx: TenantPage,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    issued: invitations.IssuedInvitation | None = None,
) -> Response[Any]:
    tenant_id = ctx.tenant.id
    return ctx.form(
        TEMPLATE,
        errors,
        members=await memberships.list_members(ctx.db, tenant_id),
        invitations=await invitations.list_pending_invitations(ctx.db, tenant_id),
        status_of=invitations.invitation_status,
        form=form or {"role": "member"},
        issued=issued,
    )


async def _issued(ctx: TenantPage, issued: invitations.IssuedInvitation, verb: str) -> Response[Any]:
    email = issued.invitation.email
    if issued.mailed:
        return ctx.redirect("/members", f"Invitation {verb} and mailed to {email}.")
    # The link exists only in this answer (the token is stored hashed), so this page shows it
    # instead of redirecting: it is never put in a URL, a flash or the session.
    flash(ctx.request, f"Invitation {verb} for {email}: pass the link below on to them.", "success")
    return await _page(ctx, issued=issued)


class MemberPages(Controller):
    """A refused change (the last admin, an invitation already used) comes back as an error flash."""

    path = "/t/{slug:str}/members"
    guards = [requires_tenant_admin]
    dependencies = {
        **page_of("members"),
        "invitation": Provide(provide_invitation),
        "membership": Provide(provide_membership),
    }
    include_in_schema = False

    @get("/")
    async def index(self, ctx: PageCtx) -> Response[Any]:
        return await _page(ctx)

    @post("/invitations")
    async def invite(self, ctx: PageCtx, data: InviteData) -> Response[Any]:
        form = {"email": data.email, "role": data.role or "member"}
        try:
            issued = await invitations.invite(
                ctx.db, ctx.settings, ctx.actor, ctx.tenant, email=form["email"], role=form["role"]
            )
        except InvalidInput as exc:
            return await _page(ctx, form=form, errors=exc.errors)
        return await _issued(ctx, issued, "created")

    @post("/invitations/{invitation_id:str}/resend")
    async def resend(self, ctx: PageCtx, invitation: PathInvitation) -> Response[Any]:
        try:
            issued = await invitations.resend_invitation(
                ctx.db, ctx.settings, ctx.actor, ctx.tenant, invitation
            )
        except Conflict as exc:
            return ctx.redirect("/members", exc.message, "error")
        return await _issued(ctx, issued, "sent again with a new link")

    @get("/invitations/{invitation_id:str}/revoke")
    async def confirm_revoke(self, ctx: PageCtx, invitation: PathInvitation) -> Response[Any]:
        return _confirm(
            ctx,
            "Revoke invitation",
            f"Revoke the invitation for {invitation.email}?",
            f"Invited as {invitation.role} by {invitation.invited_by}. Its link stops working at once.",
            f"invitations/{invitation.id}/revoke",
        )

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke(self, ctx: PageCtx, invitation: PathInvitation) -> Response[Any]:
        try:
            await invitations.revoke_invitation(ctx.db, ctx.actor, invitation)
        except Conflict as exc:
            return ctx.redirect("/members", exc.message, "error")
        return ctx.redirect(
            "/members", f"Invitation for {invitation.email} revoked: its link no longer works."
        )

    @post("/users/{user_id:str}/role")
    async def change_role(self, ctx: PageCtx, user_id: FromPath[str], data: RoleData) -> Response[Any]:
        tenant = ctx.tenant
        try:
            membership = await memberships.change_role(ctx.db, ctx.actor, tenant, user_id, data.role)
        except (Conflict, InvalidInput) as exc:
            return ctx.redirect("/members", exc.message, "error")
        return ctx.redirect("/members", f"{membership.user.email} is now {membership.role} of {tenant.name}.")

    @get("/users/{user_id:str}/remove")
    async def confirm_remove(self, ctx: PageCtx, membership: PathMembership) -> Response[Any]:
        person, tenant = membership.user, ctx.tenant
        return _confirm(
            ctx,
            "Remove member",
            f"Remove {person.email} from {tenant.name}?",
            f"{person.name or person.email} is {membership.role} of {tenant.name}. They lose access to it "
            "at once; their other tenants stay.",
            f"users/{membership.user_id}/remove",
        )

    @post("/users/{user_id:str}/remove")
    async def remove(self, ctx: PageCtx, user_id: FromPath[str]) -> Response[Any]:
        try:
            email = await memberships.remove_member(ctx.db, ctx.actor, ctx.tenant, user_id)
        except Conflict as exc:
            return ctx.redirect("/members", exc.message, "error")
        return ctx.redirect("/members", f"{email} removed from {ctx.tenant.name}.")


class AdminUserPages(Controller):
    path = "/admin/users"
    guards = [requires_platform_admin]
    dependencies = paging_of(per_page=50)
    include_in_schema = False

    @get("/")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        paging: Paged,
        tenant: FromQuery[str] = "",
        role: FromQuery[str] = "",
        q: FromQuery[str] = "",
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
        result = await users.list_users(
            db, tenant=found, role=role, q=q, page=paging.page, per_page=paging.per_page
        )
        if errors.get("tenant"):
            result = type(result)([], 0, 1, paging.per_page)
        tenants = await list_tenants(db, per_page=200)
        context = {
            "nav": "users",
            "result": result,
            "tenants": tenants.items,
            "filters": {"tenant": tenant, "role": role, "q": q},
            "errors": errors,
        }
        return render(request, "admin/users.html", context)
