"""Role guards: every route names one. Unknown callers get 401; API state changes made with a
session must carry the CSRF header (pages are covered by the CSRF middleware)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from portal.db.engine import mark_read_only
from portal.tenant_refs import RESOLVED_TENANT_ID
from portal.tenants.services import resolve_tenant_id
from portal.web.auth import Principal, auth_state, session_csrf_ok

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


SERVICE_KEY_ONLY = (
    "Issued API keys may only call the service API (/api/v1/resolve, /api/v1/usage) and the gateway (/v1/…)"
)


def _signed_in(connection: ASGIConnection[Any, Any, Any, Any], *, service_key_ok: bool = False) -> Principal:
    state = auth_state(connection)
    if state.principal is not None and state.principal.via == "service_key" and not service_key_ok:
        raise PermissionDeniedException(SERVICE_KEY_ONLY)
    if state.throttled is not None:
        raise state.throttled
    if state.principal is None:
        raise NotAuthorizedException(
            state.problem or "Sign in, or send the platform API key in the X-API-Key header"
        )
    if (
        state.principal.via == "session"
        and connection.scope["path"].startswith("/api/")
        and connection.scope.get("method", "GET") not in SAFE_METHODS
        and not session_csrf_ok(connection, connection.app.state.portal.settings.session_secret)
    ):
        raise PermissionDeniedException(
            "CSRF token missing or invalid: send the portal_csrf cookie's value in the x-csrftoken header"
        )
    return state.principal


async def allow_anyone(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Explicitly public (sign-in page, health check, static files). Async: Litestar 2 runs a sync
    guard in a worker thread, a thread hop per request for a guard that checks nothing."""


def requires_signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    _signed_in(connection)


def requires_platform_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    principal = _signed_in(connection)
    if principal.impersonation is not None:
        raise PermissionDeniedException("Stop impersonating to use the platform pages")
    if not principal.acts_platform_wide:
        raise PermissionDeniedException("Only platform admins may do this")


async def _tenant_in_path(connection: ASGIConnection[Any, Any, Any, Any]) -> uuid.UUID | None:
    """The id of the tenant the path names, resolved once per request by the rule the loaders use
    (portal.tenant_refs); the loaders then load that tenant by this id."""
    if RESOLVED_TENANT_ID in connection.scope:
        return cast("uuid.UUID | None", cast("dict[str, Any]", connection.scope)[RESOLVED_TENANT_ID])
    ref = connection.path_params.get("tenant_id") or connection.path_params.get("slug")
    tenant_id = None
    if ref is not None:
        async with connection.app.state.portal.sessions() as db:
            await mark_read_only(db)
            tenant_id = await resolve_tenant_id(db, str(ref))
    connection.scope[RESOLVED_TENANT_ID] = tenant_id  # type: ignore[literal-required]
    return tenant_id


async def tenant_role(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The caller's role in the tenant named in the path; 404 when it is not theirs to see."""
    principal = _signed_in(connection, service_key_ok=True)
    tenant_id = await _tenant_in_path(connection)
    # Decided on the resolved id: a slug never stands in for another tenant's id.
    role = principal.access_to(str(tenant_id)) if tenant_id is not None else None
    if role is None:
        raise NotFoundException("Tenant not found")
    if principal.via == "service_key":  # its own tenant, but not through the portal's API
        raise PermissionDeniedException(SERVICE_KEY_ONLY)
    return role


async def requires_tenant_member(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Read access: the tenant's members and admins, and platform admins."""
    await tenant_role(connection)


async def requires_tenant_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Changes inside a tenant: its admins (or an impersonating platform admin), and platform admins."""
    if await tenant_role(connection) == "member":
        raise PermissionDeniedException("Only the tenant's admins may change this")


def requires_platform_admin_person(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """A platform admin signed in with a session, impersonating or not (to stop impersonating)."""
    principal = _signed_in(connection)
    if principal.via != "session" or not principal.is_platform_admin:
        raise PermissionDeniedException("Only a signed-in platform admin may do this")


def requires_service_key(scope: str) -> Any:
    """The service API: an issued API key (Bearer) that may be used now and holds `scope`.

    Each refusal has its own status and JSON code (see portal.apikeys.refusals). Async, so that
    Litestar runs it on the event loop rather than in a worker thread (the resolve hot path)."""
    from portal.apikeys.refusals import Refusal

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        state = auth_state(connection)
        if state.refusal is not None:
            raise state.refusal
        principal = state.principal
        if principal is None or principal.via != "service_key":
            raise Refusal("missing_key")
        if scope not in principal.scopes:
            raise Refusal("scope_missing", f"this API key lacks the {scope!r} scope")

    guard.__name__ = f"requires_service_key_{scope.replace(':', '_')}"
    return guard


ADMIN = [requires_tenant_admin]
"""`guards=ADMIN`: a route of a tenant's members' controller that only its admins may use."""
PLATFORM = [requires_platform_admin]
"""`guards=PLATFORM`: a route only platform admins may use."""
