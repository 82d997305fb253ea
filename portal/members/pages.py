"""Member pages: a tenant's members and invitations, the invitation link's page, the platform's users."""

from __future__ import annotations

import inspect
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.plugins.flash import flash
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import anonymous
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.models import Tenant
from portal.errors import Conflict, InvalidInput, NotFound
from portal.members import services
from portal.tenants.deps import provide_tenant_by_slug
from portal.tenants.services import find_tenant, list_tenants
from portal.web.forms import FormData, text
from portal.web.guards import allow_anyone, requires_platform_admin, requires_tenant_admin
from portal.web.paging import page_parameter
from portal.web.templating import redirect_after_change, render
from portal.web.throttle import throttle_of

TEMPLATE = "members/index.html"
NO_REFERRER = {"Referrer-Policy": "no-referrer"}  # the token in the URL goes nowhere else


class MemberPages(Controller):
    path = "/t/{slug:str}/members"
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        issued: services.IssuedInvitation | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        context = {
            "tenant": tenant,
            "tab": "members",
            "members": await services.list_members(db, tenant.id),
            "invitations": await services.list_pending_invitations(db, tenant.id),
            "status_of": services.invitation_status,
            "form": form or {"role": "member"},
            "errors": errors or {},
            "issued": issued,
        }
        return render(request, TEMPLATE, context, status_code=status_code)

    def _url(self, tenant: Tenant) -> str:
        return f"/t/{tenant.slug}/members"

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant) -> Response[Any]:
        return await self._page(request, db, tenant)

    async def _issued(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        issued: services.IssuedInvitation,
        verb: str,
    ) -> Response[Any]:
        email = issued.invitation.email
        if issued.mailed:
            return redirect_after_change(
                request, self._url(tenant), f"Invitation {verb} and mailed to {email}."
            )
        # The link exists only in this answer (the token is stored hashed), so this page shows it
        # instead of redirecting: it is never put in a URL, a flash or the session.
        flash(request, f"Invitation {verb} for {email}: pass the link below on to them.", "success")
        return await self._page(request, db, tenant, issued=issued)

    @post("/invitations")
    async def invite(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        data: FormData,
    ) -> Response[Any]:
        form = {"email": text(data, "email"), "role": text(data, "role") or "member"}
        try:
            issued = await services.invite(
                db, settings, actor, tenant, email=form["email"], role=form["role"]
            )
        except InvalidInput as exc:
            return await self._page(request, db, tenant, form=form, errors=exc.errors, status_code=400)
        return await self._issued(request, db, tenant, issued, "created")

    @post("/invitations/{invitation_id:str}/resend")
    async def resend(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        invitation_id: str,
    ) -> Response[Any]:
        try:
            issued = await services.resend_invitation(db, settings, actor, tenant, invitation_id)
        except Conflict as exc:
            return redirect_after_change(request, self._url(tenant), exc.message, "error")
        return await self._issued(request, db, tenant, issued, "sent again with a new link")

    @get("/invitations/{invitation_id:str}/revoke")
    async def confirm_revoke(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, invitation_id: str
    ) -> Response[Any]:
        invitation = await services.find_invitation(db, tenant.id, invitation_id)
        context = {"tenant": tenant, "tab": "members", "invitation": invitation}
        return render(request, "members/revoke.html", context)

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        invitation_id: str,
    ) -> Response[Any]:
        try:
            invitation = await services.revoke_invitation(db, actor, tenant, invitation_id)
        except Conflict as exc:
            return redirect_after_change(request, self._url(tenant), exc.message, "error")
        return redirect_after_change(
            request,
            self._url(tenant),
            f"Invitation for {invitation.email} revoked: its link no longer works.",
        )

    @post("/users/{user_id:str}/role")
    async def change_role(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        user_id: str,
        data: FormData,
    ) -> Response[Any]:
        try:
            membership = await services.change_role(db, actor, tenant, user_id, text(data, "role"))
        except (Conflict, InvalidInput) as exc:
            return redirect_after_change(request, self._url(tenant), exc.message, "error")
        return redirect_after_change(
            request, self._url(tenant), f"{membership.user.email} is now {membership.role} of {tenant.name}."
        )

    @get("/users/{user_id:str}/remove")
    async def confirm_remove(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, user_id: str
    ) -> Response[Any]:
        membership = await services.find_member(db, tenant.id, user_id)
        context = {"tenant": tenant, "tab": "members", "membership": membership}
        return render(request, "members/remove.html", context)

    @post("/users/{user_id:str}/remove")
    async def remove(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, tenant: Tenant, user_id: str
    ) -> Response[Any]:
        try:
            email = await services.remove_member(db, actor, tenant, user_id)
        except Conflict as exc:
            return redirect_after_change(request, self._url(tenant), exc.message, "error")
        return redirect_after_change(request, self._url(tenant), f"{email} removed from {tenant.name}.")


class InvitationPages(Controller):
    """The page an invitation link opens: anyone may open it; the token decides what it shows."""

    path = "/invite/{token:str}"
    guards = [allow_anyone]
    include_in_schema = False

    def _refused(self, request: Request[Any, Any, Any], exc: NotFound | InvalidInput) -> Response[Any]:
        status = 404 if isinstance(exc, NotFound) else 410
        response = render(request, "members/invitation.html", {"refusal": exc.message}, status_code=status)
        response.headers.update(NO_REFERRER)
        return response

    async def _open(
        self, request: Request[Any, Any, Any], db: AsyncSession, token: str
    ) -> services.OpenInvitation | Response[Any]:
        """The invitation, or the refusal page; guessing tokens is throttled per address."""
        client = request.client.host if request.client else None
        attempt = await throttle_of(request).check("invitation", client_ip=client)
        try:
            found = await services.open_invitation(db, token)
        except NotFound as exc:
            anonymous.note("invitation: unknown token")
            await attempt.failed()
            return self._refused(request, exc)
        except InvalidInput as exc:  # a real invitation, expired or used: not a guess
            await attempt.succeeded()
            return self._refused(request, exc)
        await attempt.succeeded()
        return found

    @get("/")
    async def show(self, request: Request[Any, Any, Any], db: AsyncSession, token: str) -> Response[Any]:
        found = await self._open(request, db, token)
        if isinstance(found, Response):
            return found
        context = {"invitation": found.invitation, "target_tenant": found.tenant, "token": token}
        response = render(request, "members/invitation.html", context)
        response.headers.update(NO_REFERRER)
        return response

    @post("/accept")
    async def accept(self, request: Request[Any, Any, Any], db: AsyncSession, token: str) -> Response[Any]:
        """Off to the tenant's identity provider; its callback accepts the invitation."""
        found = await self._open(request, db, token)
        if isinstance(found, Response):
            return found
        try:
            from portal.identity.oidc.flow import start_sign_in
        except ImportError:
            message = "Sign-in through the tenant's identity provider is not available on this portal yet."
            return render(request, "members/invitation.html", {"refusal": message}, status_code=503)
        response = start_sign_in(request, found.tenant, next_url="", invitation_token=token)
        if inspect.isawaitable(response):
            response = await response
        return response  # type: ignore[no-any-return]


class AdminUserPages(Controller):
    path = "/admin/users"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: str = "",
        role: str = "",
        q: str = "",
        page: int = page_parameter(),
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        found = None
        if tenant:
            try:
                found = await find_tenant(db, tenant)
            except NotFound:
                errors["tenant"] = f"no tenant {tenant}"
        if role and role not in services.USER_ROLE_FILTERS:
            errors["role"] = "choose admin, member or platform admin"
            role = ""
        result = await services.list_users(db, tenant=found, role=role, q=q, page=page, per_page=50)
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
