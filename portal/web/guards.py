"""Role guards: every route names one. Unknown callers get 401; API state changes made with a
session must carry the CSRF header (pages are covered by the CSRF middleware)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from portal.web.auth import Principal, auth_state, session_csrf_ok

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _signed_in(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    state = auth_state(connection)
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


def allow_anyone(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Explicitly public (sign-in page, health check, static files)."""


def requires_signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    _signed_in(connection)


def requires_platform_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not _signed_in(connection).is_platform_admin:
        raise PermissionDeniedException("Only platform admins may do this")
