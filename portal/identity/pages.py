"""Platform admin sign-in and sign-out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.identity.services import authenticate_admin
from portal.web.auth import Principal, principal_of
from portal.web.forms import FormData, safe_next, text
from portal.web.guards import allow_anyone
from portal.web.sessions import renew_session_id
from portal.web.templating import redirect_after_change, render

HOME = "/admin/tenants"


def home_for(principal: Principal | None) -> str:
    """Where a signed-in person starts: the platform, the impersonated tenant, or their first tenant."""
    if principal is None:
        return "/login"
    if principal.impersonation is not None:
        return f"/t/{principal.impersonation.slug}"
    if principal.acts_platform_wide:
        return HOME
    return f"/t/{principal.memberships[0].slug}" if principal.memberships else "/login"


class SignInPages(Controller):
    guards = [allow_anyone]
    include_in_schema = False

    @get("/")
    async def home(self, request: Request[Any, Any, Any]) -> Redirect:
        return Redirect(home_for(principal_of(request)), status_code=303)

    @get("/login")
    async def login_form(
        self, request: Request[Any, Any, Any], next: str = "", signed_out: bool = False
    ) -> Response[Any]:
        if principal_of(request) is not None:
            return Redirect(safe_next(next, HOME), status_code=303)
        return render(request, "auth/login.html", {"next": next, "signed_out": signed_out})

    @post("/login")
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: FormData
    ) -> Response[Any]:
        email, password = text(data, "email"), text(data, "password")
        user = await authenticate_admin(db, actor, email, password)
        if user is None:
            context = {
                "email": email,
                "next": text(data, "next"),
                "error": "Wrong e-mail or password.",
            }
            return render(request, "auth/login.html", context, status_code=400)
        await renew_session_id(request)
        request.set_session({"user_id": str(user.id)})
        return redirect_after_change(
            request, safe_next(text(data, "next"), HOME), f"Signed in as {user.email}."
        )

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        request.clear_session()
        return Redirect("/login?signed_out=true", status_code=303)
