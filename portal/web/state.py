"""What the running app holds: settings, the vault, the database, an HTTP client, the abuse limits,
the gateway's usage recorder."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.crypto.vault import Vault
from portal.usage.recorder import UsageRecorder
from portal.web.throttle import Throttle


@dataclass
class PortalState:
    settings: Settings
    vault: Vault
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # The egress-policied client (portal.net.egress): the only one for URLs a tenant chose.
    http: httpx.AsyncClient
    throttle: Throttle = field(default_factory=Throttle)
    # Gateway usage events, written in batches off the request path (started and stopped with the app).
    usage_recorder: UsageRecorder = field(init=False)

    def __post_init__(self) -> None:
        self.usage_recorder = UsageRecorder(self.sessions)
