"""The gateway's parts put together for one app: its pooled HTTP client, the spend ledger, the usage
event writer and the rate limiter, started and stopped with the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal import __version__
from portal.apikeys.hotpath import HotPath
from portal.config import Settings
from portal.db.models import UsageEvent
from portal.gateway.service import Gateway
from portal.net.egress import egress_client

log = logging.getLogger("portal.gateway")

# Many concurrent calls, most to a few providers: a large pool, connections kept warm.
LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=500, keepalive_expiry=60)


def gateway_client(settings: Settings) -> httpx.AsyncClient:
    """The gateway's own client: pooled per upstream host, behind the egress policy."""
    return egress_client(
        settings.outbound_allow,
        limits=LIMITS,
        headers={"user-agent": f"llm-portal-gateway/{__version__}", "accept-encoding": "identity"},
    )


class BatchSink:
    """Usage events written in batches by one task, off the request path; flushed on stop.
    (Stands in for portal.usage.recorder until it is assembled here.)"""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, values: dict[str, Any]) -> None:
        self._pending.append(values)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-usage-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with self.sessions() as db:
                await db.execute(insert(UsageEvent), batch)
                await db.commit()
        except Exception:
            log.exception("writing %d gateway usage events failed", len(batch))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()


def build_gateway(
    settings: Settings,
    hotpath: HotPath,
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
) -> Gateway:
    return Gateway(settings, hotpath, http, hotpath.ledger, BatchSink(sessions))
