"""Dependencies every controller may ask for by name."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, TypeAlias

import httpx
from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
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
