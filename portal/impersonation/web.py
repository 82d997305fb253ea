"""Impersonation over HTTP: the JSON API, the page forms, and the hook that records an expiry."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from portal.impersonation import services
from portal.inputs import Input
from portal.tenants.services import find_tenant
from portal.web.auth import IMPERSONATION_KEY, AuthState, Impersonation, Principal, principal_of
from portal.web.forms import FormData, text
from portal.web.guards import requires_platform_admin, requires_platform_admin_person
from portal.web.openapi import CHANGE, errors
from portal.web.sessions import renew_session_id
from portal.web.state import PortalState
from portal.web.templating import redirect_after_change, render

START_TEMPLATE = "impersonation/start.html"


class ImpersonateIn(Input):
    tenant_id: str
    reason: str


class ImpersonationOut(msgspec.Struct):
    impersonating: bool
    tenant_id: str | None = None
    slug: str | None = None
    tenant_name: str | None = None
    reason: str | None = None
    started_at: str | None = None
    expires_at: str | None = None


def _out(imp: Impersonation | None) -> ImpersonationOut:
    if imp is None:
        return ImpersonationOut(impersonating=False)
    return ImpersonationOut(
        impersonating=True,
        tenant_id=str(imp.tenant_id),
        slug=imp.slug,
        tenant_name=imp.tenant_name,
        reason=imp.reason,
        started_at=imp.started_at.isoformat(),
        expires_at=imp.expires_at.isoformat(),
    )


def _person(request: Request[Any, Any, Any]) -> Principal:
    principal = principal_of(request)
    if principal is None or principal.via != "session":
        raise Forbidden("Impersonation lives in a signed-in session: the platform API key cannot impersonate")
    return principal


async def _begin(
    request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, tenant_ref: str, reason: str
) -> Impersonation:
    _person(request)
    started = await services.start_impersonation(db, actor, tenant_ref=tenant_ref, reason=reason)
    imp = Impersonation(
        tenant_id=started.tenant_id,
        slug=started.slug,
        tenant_name=started.tenant_name,
        reason=started.reason,
        started_at=started.started_at,
        expires_at=started.expires_at,
    )
    await renew_session_id(request)  # a change of rights gets a new session id
    request.session[IMPERSONATION_KEY] = imp.as_session()
    return imp


async def _end(request: Request[Any, Any, Any], db: AsyncSession, actor: Actor) -> Impersonation:
    principal = _person(request)
    imp = principal.impersonation
    if imp is None:
        raise Conflict("You are not impersonating anyone")
    await services.end_impersonation(
        db, actor, tenant_id=imp.tenant_id, slug=imp.slug, reason=imp.reason, started_at=imp.started_at
    )
    await renew_session_id(request)
    request.session.pop(IMPERSONATION_KEY, None)
    return imp


class ImpersonationApi(Controller):
    path = "/api/v1/admin"
    tags = ["impersonation"]

    @post("/impersonate", guards=[requires_platform_admin], status_code=200, responses=CHANGE)
    async def impersonate(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: ImpersonateIn
    ) -> ImpersonationOut:
        """Act as the admin of one tenant for 60 minutes (session only; `reason` is required)."""
        return _out(await _begin(request, db, actor, data.tenant_id, data.reason))

    @post(
        "/stop-impersonation",
        guards=[requires_platform_admin_person],
        status_code=200,
        responses=errors(401, 403, 409, 429),
    )
    async def stop_impersonation(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor
    ) -> ImpersonationOut:
        """End the session's impersonation; 409 when there is none."""
        await _end(request, db, actor)
        return _out(None)


class ImpersonationPages(Controller):
    path = "/admin"
    include_in_schema = False

    @post("/impersonate", guards=[requires_platform_admin])
    async def impersonate(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, data: FormData
    ) -> Response[Any]:
        form = {"tenant_id": text(data, "tenant_id"), "reason": text(data, "reason")}
        try:
            imp = await _begin(request, db, actor, form["tenant_id"], form["reason"])
        except InvalidInput as exc:
            try:
                tenant = await find_tenant(db, form["tenant_id"])
            except NotFound:
                raise exc from None
            context = {"target_tenant": tenant, "form": form, "errors": exc.errors}
            return render(request, START_TEMPLATE, context, status_code=400)
        return redirect_after_change(
            request,
            f"/t/{imp.slug}",
            f"You are acting as an admin of {imp.tenant_name} until {imp.expires_at:%H:%M} UTC. "
            "Everything you do is recorded.",
        )

    @post("/stop-impersonation", guards=[requires_platform_admin_person])
    async def stop_impersonation(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor
    ) -> Response[Any]:
        imp = await _end(request, db, actor)
        return redirect_after_change(
            request, f"/t/{imp.slug}", f"You stopped acting as an admin of {imp.tenant_name}."
        )


class ImpersonationExpiryMiddleware(ASGIMiddleware):
    """Records the end of an impersonation that ran out (auth's middleware drops it from the session
    and leaves it in the scope), and tells the admin with a flash message."""

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:  # type: ignore[override]
        return scope["path"].startswith("/static/")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        expired: Impersonation | None = scope.get("portal_impersonation_expired")  # type: ignore[assignment]
        if expired is not None:
            await self._record(scope, expired)
        await next_app(scope, receive, send)

    async def _record(self, scope: Scope, imp: Impersonation) -> None:
        state: PortalState = scope["litestar_app"].state.portal
        auth: AuthState | None = scope.get("portal_auth")  # type: ignore[assignment]
        principal = auth.principal if auth else None
        label = principal.label if principal else "unknown"
        client = scope.get("client")
        headers = dict(scope.get("headers", []))
        actor = Actor(
            label=label,
            user_id=principal.user_id if principal else None,
            is_platform_admin=True,
            impersonator=label,
            ip=client[0] if client else None,
            user_agent=headers.get(b"user-agent", b"").decode("latin-1") or None,
        )
        async with state.sessions() as db:
            await services.end_impersonation(
                db,
                actor,
                tenant_id=imp.tenant_id,
                slug=imp.slug,
                reason=imp.reason,
                started_at=imp.started_at,
                expired=True,
            )
        session = scope.get("session")
        if isinstance(session, dict):
            minutes = int(services.IMPERSONATION_TTL.total_seconds() // 60)
            session.setdefault("_messages", []).append(
                {
                    "message": f"Your impersonation of {imp.tenant_name} ended after {minutes} minutes.",
                    "category": "info",
                }
            )
