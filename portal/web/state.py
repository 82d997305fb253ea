"""What the running app holds: settings, the vault, the database, an HTTP client, the abuse limits."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.crypto.vault import Vault
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
    # The gateway's own pooled client, behind the same egress policy, sized for many concurrent calls.
    gateway_http: httpx.AsyncClient | None = None
