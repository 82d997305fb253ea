"""What the running app holds: settings, the vault, the database, an HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.crypto.vault import Vault


@dataclass
class PortalState:
    settings: Settings
    vault: Vault
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # The egress-policied client (portal.net.egress): the only one for URLs a tenant chose.
    http: httpx.AsyncClient
