"""What the running app holds: settings, the vault, the database, an HTTP client, the abuse limits,
the gateway's usage recorder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.crypto.vault import Vault
from portal.web.throttle import Throttle


class UsageRecording(Protocol):
    """portal.usage.recorder.UsageRecorder (typed here so the web layer, which issued keys use,
    does not import the usage feature)."""

    def add(self, values: dict[str, Any]) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def flush(self) -> int: ...


@dataclass
class PortalState:
    settings: Settings
    vault: Vault
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # The egress-policied client (portal.net.egress): the only one for URLs a tenant chose.
    http: httpx.AsyncClient
    # Gateway usage events, written in batches off the request path (started and stopped with the app).
    usage_recorder: UsageRecording
    throttle: Throttle = field(default_factory=Throttle)
    # The gateway's own pooled client, behind the same egress policy, sized for many concurrent calls.
    gateway_http: httpx.AsyncClient | None = None
