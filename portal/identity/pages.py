"""The sign-in page (single sign-on by e-mail, and the platform admins' password form) and sign-out."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from portal.audit import services as audit
from portal.identity.forms import PasswordData
from portal.identity.oidc.completion import SSO_KEY, end_session_url, session_data
from portal.identity.oidc.pages import login_page
from portal.identity.second_factor_pages import CHECK_PATH, PENDING_KEY, SETUP_PATH, pending_second_factor
from portal.identity.services import authenticate_admin
from portal.web.auth import AUTH_KEY, Principal, password_auth, principal_of
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.forms import safe_next
from portal.web.guards import allow_anyone
from portal.web.sessions import renew_session_id
from portal.web.templating import redirect_after_change
from portal.web.throttle import throttle_of

HOME = "/admin/tenants"


def home_for(principal: Principal | None, acting_tenant_id: str | None = None) -> str:
    """Where a signed-in person starts: the platform, the impersonated tenant, the tenant they act
    in, or their first tenant."""
    if principal is None:
        return "/login"
    if principal.impersonation is not None:
        return f"/t/{principal.impersonation.slug}"
    if principal.acts_platform_wide:
        return HOME
    acting = next((m for m in principal.memberships if str(m.tenant_id) == acting_tenant_id), None)
    if acting is not None:
        return f"/t/{acting.slug}"
    return f"/t/{principal.memberships[0].slug}" if principal.memberships else "/login"


class SignInPages(Controller):
    guards = [allow_anyone]
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        acting = session_data(request).get("tenant_id")
        return Redirect(home_for(principal_of(request), acting), status_code=303)

    @get("/login")
    async def login_form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        next: FromQuery[str] = "",
        signed_out: FromQuery[bool] = False,
    ) -> Response[Any]:
        principal = principal_of(request)
        if principal is not None:
            home = home_for(principal, session_data(request).get("tenant_id"))
            return Redirect(safe_next(next, home), status_code=303)
        return await login_page(request, db, settings, next=next, signed_out=signed_out)

    @post("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        data: PasswordData,
    ) -> Response[Any]:
        email, password, next_url = data.email, data.password, data.next
        attempt = await throttle_of(request).check("sign_in", client_ip=actor.ip, account=email)
        user = await authenticate_admin(db, actor, email, password)
        if user is None:
            await attempt.failed()
            return await login_page(
                request,
                db,
                settings,
                email=email,
                next=next_url,
                error="Wrong e-mail or password.",
                status_code=400,
            )
        await attempt.succeeded()
        await renew_session_id(request)
        if user.has_second_factor or settings.platform_admin_mfa == "required":
            enrol = not user.has_second_factor
            request.set_session({PENDING_KEY: pending_second_factor(user.id, next_url, enrol=enrol)})
            return Redirect(SETUP_PATH if enrol else CHECK_PATH, status_code=303)
        request.set_session({"user_id": str(user.id), AUTH_KEY: password_auth(second_factor=False)})
        return redirect_after_change(
            request,
            safe_next(next_url, HOME),
            f"Signed in as {user.email}. A second factor is optional on this portal: "
            f"set one up at {SETUP_PATH}.",
        )

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor) -> Redirect:
        """End the portal session; after a single sign-on, also the provider's (RP-initiated logout)."""
        provider_logout = await end_session_url(request)
        sso = session_data(request).get(SSO_KEY)
        if principal_of(request) is not None:
            tenant_id = sso.get("tenant_id") if isinstance(sso, dict) else None
            await audit.record(
                db,
                actor,
                "auth.sign_out",
                tenant_id=uuid.UUID(tenant_id) if tenant_id else None,
                target=f"user:{actor.label}",
                details={"method": "oidc" if sso else "password", "provider_logout": bool(provider_logout)},
            )
        request.clear_session()
        return Redirect(provider_logout or "/login?signed_out=true", status_code=303)
