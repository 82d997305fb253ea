"""Dependencies every controller may ask for by name."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.config import Settings
from portal.crypto.vault import Vault
from portal.db.engine import mark_read_only
from portal.db.models import Tenant
from portal.errors import Conflict
from portal.web.auth import actor_for
from portal.web.state import PortalState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_SESSION = "portal_open_session"  # the scope's key of the request's session until provide_db ends

# What a handler or another dependency declares to be given these by name (`db: Db`, ...).
Db: TypeAlias = NamedDependency[AsyncSession]
CurrentSettings: TypeAlias = NamedDependency[Settings]
TheVault: TypeAlias = NamedDependency[Vault]
Http: TypeAlias = NamedDependency[httpx.AsyncClient]
CurrentActor: TypeAlias = NamedDependency[Actor]


@dataclass(frozen=True)
class TenantRequest:
    """What a handler acting within one tenant works with, loaded once per request: the request, its
    unit of work, the settings, the actor and the path's tenant (portal.tenants.deps `api_of`)."""

    request: Request[Any, Any, Any]
    db: AsyncSession
    settings: Settings
    actor: Actor
    tenant: Tenant


async def provide_db(state: State, request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """The request's unit of work: committed when the handler returns, rolled back when it raises.
    Two requests changing the same thing at once: the loser's unique-constraint clash is a 409."""
    portal: PortalState = state.portal
    async with portal.sessions() as session:
        request.scope[OPEN_SESSION] = session  # type: ignore[literal-required]
        if request.method in SAFE_METHODS and portal.settings.is_sqlite:
            await mark_read_only(session)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        try:
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Conflict(
                "This was changed at the same moment by another request; reload and try again"
            ) from exc
    request.scope.pop(OPEN_SESSION, None)  # type: ignore[misc]


class ReleaseRequestSession(ASGIMiddleware):
    """Closes (rolls back) the request's session when provide_db's own cleanup never ran.

    Litestar (2.25) skips the cleanup of generator dependencies resolved before another dependency
    raises (a 404 or 400 from a later loader or path parameter), and of one cancelled with its task
    group; the session then kept its connection, and on SQLite BEGIN IMMEDIATE's write lock, until
    garbage collection, so every later writer waited out the 30 s busy timeout."""

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        return scope["path"].startswith("/static/")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        try:
            await next_app(scope, receive, send)
        finally:
            left: AsyncSession | None = scope.pop(OPEN_SESSION, None)  # type: ignore[misc]
            if left is not None:
                await left.close()


def provide_settings(state: State) -> Settings:
    return state.portal.settings


def provide_vault(state: State) -> Vault:
    return state.portal.vault


def provide_http(state: State) -> httpx.AsyncClient:
    return state.portal.http


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return actor_for(request)


dependencies = {
    "db": Provide(provide_db),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "vault": Provide(provide_vault, sync_to_thread=False),
    "http": Provide(provide_http, sync_to_thread=False),
    "actor": Provide(provide_actor, sync_to_thread=False),
}
