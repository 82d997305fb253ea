"""Server-side sessions whose id is renewed at sign-in (no session fixation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore

from portal.config import Settings

SESSION_COOKIE = "portal_session"
SESSION_STORE = "sessions"
RENEWED_ID_KEY = "portal_renewed_session_id"
SESSION_MAX_AGE = 8 * 3600


class RenewableSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        renewed = connection.scope.get(RENEWED_ID_KEY)  # type: ignore[call-overload]
        return renewed if renewed else super().get_session_id(connection)


@dataclass
class PortalSessionConfig(ServerSideSessionConfig):
    _backend_class = RenewableSessionBackend


async def renew_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Drop the old id from the store and give the session a new one in the response."""
    config: PortalSessionConfig = connection.app.state.session_config
    old_id = connection.cookies.get(SESSION_COOKIE)
    if old_id:
        await config.get_store_from_app(connection.app).delete(old_id)
    backend = RenewableSessionBackend(config=config)
    connection.scope[RENEWED_ID_KEY] = backend.generate_session_id()  # type: ignore[literal-required]


def session_config(settings: Settings) -> PortalSessionConfig:
    return PortalSessionConfig(
        key=SESSION_COOKIE,
        store=SESSION_STORE,
        max_age=SESSION_MAX_AGE,
        renew_on_access=True,
        samesite="lax",
        secure=settings.secure_cookies,
        httponly=True,
        # No session for static files, the health check and the service API (resolve, usage): Litestar
        # would otherwise store an empty session and set a cookie on every cookieless request.
        exclude=["/static/", "^/health$", "^/api/v1/(resolve|usage)$"],
    )


def session_store(settings: Settings, *, shared_between_processes: bool = False) -> Store:
    if settings.redis_url:
        return RedisStore.with_client(url=settings.redis_url, namespace="portal:sessions")
    if shared_between_processes:
        return FileStore(Path(settings.var_dir) / "sessions", create_directories=True)
    return MemoryStore()
