"""Server-side sessions: stored only once something is written, id renewed at sign-in (no session
fixation), ended after SESSION_MAX_AGE idle or SESSION_ABSOLUTE_MAX_AGE after sign-in, whichever
comes first. Behind https the cookie is Secure and __Host- prefixed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Message, ScopeSession

from portal.config import Settings

SESSION_COOKIE = "portal_session"
SESSION_STORE = "sessions"
RENEWED_ID_KEY = "portal_renewed_session_id"
SESSION_MAX_AGE = 8 * 3600  # idle: every request slides it
SESSION_ABSOLUTE_MAX_AGE = 12 * 3600  # from sign-in, whatever the sliding renewals
# When the session was born (Unix seconds). A sign-in replaces the whole session, so it starts again.
BORN_KEY = "_born"
HOST_PREFIX = "__Host-"


def cookie_name(name: str, settings: Settings) -> str:
    """The __Host- prefix (Secure, Path=/, no Domain: no subdomain can set or shadow it) behind https."""
    return HOST_PREFIX + name if settings.https else name


def _alive(data: dict[str, Any], now: float) -> bool:
    born = data.get(BORN_KEY, now)  # stored before births were recorded: its clock starts now
    if isinstance(born, bool) or not isinstance(born, int | float):
        return False
    return now - born < SESSION_ABSOLUTE_MAX_AGE


class PortalSessionBackend(ServerSideSessionBackend):
    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        renewed = cast("dict[str, Any]", connection.scope).get(RENEWED_ID_KEY)
        return str(renewed) if renewed else super().get_session_id(connection)

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        if data and not _alive(data, time.time()):
            store = self.config.get_store_from_app(connection.scope["app"])
            await self.delete(connection.cookies[self.config.key], store=store)
            return {}
        return data

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if isinstance(scope_session, dict) and scope_session:
            scope_session.setdefault(BORN_KEY, time.time())
            await super().store_in_message(scope_session, message, connection)
            return
        # Nothing to keep: nothing stored for a visitor; an emptied session leaves the store and its cookie.
        session_id = connection.cookies.get(self.config.key)
        if not session_id or session_id == "null":
            return
        await self.delete(session_id, store=self.config.get_store_from_app(connection.scope["app"]))
        cookie = Cookie(
            key=self.config.key,
            value="",
            max_age=0,
            expires=0,
            path=self.config.path,
            secure=self.config.secure,
            httponly=self.config.httponly,
            samesite=self.config.samesite,
        )
        MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))


@dataclass
class PortalSessionConfig(ServerSideSessionConfig):
    _backend_class = PortalSessionBackend


async def renew_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Drop the old id from the store and give the session a new one in the response."""
    config: PortalSessionConfig = connection.app.state.session_config
    old_id = connection.cookies.get(config.key)
    if old_id:
        await config.get_store_from_app(connection.app).delete(old_id)
    backend = PortalSessionBackend(config=config)
    connection.scope[RENEWED_ID_KEY] = backend.generate_session_id()  # type: ignore[literal-required]


def session_config(settings: Settings) -> PortalSessionConfig:
    return PortalSessionConfig(
        key=cookie_name(SESSION_COOKIE, settings),
        store=SESSION_STORE,
        max_age=SESSION_MAX_AGE,
        renew_on_access=True,
        samesite="lax",
        secure=settings.https,
        httponly=True,
        path="/",
        # The service API (resolve, usage) and the gateway (/v1/) authenticate keys, never cookies;
        # static files and the health check need no session either.
        exclude=["^/static/", "^/health$", "^/api/v1/(resolve|usage)$", "^/v1/"],
    )


def session_store(settings: Settings, *, shared_between_processes: bool = False) -> Store:
    if settings.redis_url:
        return RedisStore.with_client(url=settings.redis_url, namespace="portal:sessions")
    if shared_between_processes:
        return FileStore(Path(settings.var_dir) / "sessions", create_directories=True)
    return MemoryStore()
