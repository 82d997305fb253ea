"""A ledger's background work (releasing expired reservations), every few seconds from start to
stop; a failure (the database or Redis away a moment) is logged and the next round runs anyway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("portal.budgets")

# How often the database and memory ledgers release expired reservations (Redis: its own, rarer sweep,
# since every reservation there releases expired ones first).
SWEEP_EVERY_S = 5.0


class Every:
    def __init__(self, seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
        self.seconds = seconds
        self.work = work
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed: %s", self.name, type(exc).__name__)


async def sweep_all(sweep: Callable[[], Awaitable[int]], batch: int) -> None:
    """Sweep until a round finds fewer than a full batch."""
    while await sweep() == batch:
        pass
