"""Gateway usage events, written in batches off the request path.

    recorder = UsageRecorder(sessions)        # held on PortalState as `usage_recorder`
    await recorder.start()                    # the app's start-up
    recorder.add({"api_key_id": …, "lineage_id": …, "tenant_id": …, "provider": "openai",
                  "model": "gpt-4o-mini", "input_tokens": 12, "output_tokens": 30,
                  "cost_micros": 21, "status_code": 200, "latency_ms": 840, "streamed": True})
    await recorder.stop()                     # the app's shutdown: writes what is left

`add` is synchronous and never blocks or waits on the database: it checks the field names (a typo is
a programming error, raised at once), fills in the defaults (`occurred_at` = now, `source` =
gateway, zero tokens and cost, not streamed, not estimated) and appends to a list. A background task
writes every `interval` seconds, or as soon as `batch_size` events wait, each batch one INSERT
(executemany) in its own transaction. That transaction names the key lineages it touched, so the
hot path learns of the new spend exactly as it does of a reported usage (portal.apikeys.changes):
the other processes through Redis or the database poll; this one's ledger holds it already (the
gateway settles a request's cost in the ledger before it queues the event here).

Failures: a batch the database refuses as data (IntegrityError, e.g. its tenant was deleted
meanwhile) is written row by row and only the refused rows are dropped, logged. Any other failure
(the database is down) keeps the batch and retries with a growing pause (up to MAX_RETRY_PAUSE_S).
Memory is bounded: while the database stays away, at most `max_pending` events wait; past that new
events are dropped and counted (`stats.dropped`, an error logged every DROP_LOG_EVERY), so a long
outage costs the usage history of the requests made during it, never the process's memory. Budgets
are not at risk: spend is held by the ledger (portal.budgets), not by these rows. `stop()` tries to
write what is left for up to `stop_timeout` seconds, then logs how many events were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys import changes as change_feed
from portal.db.base import utcnow
from portal.db.models import UsageEvent
from portal.db.models.apikeys import UsageSource

log = logging.getLogger("portal.usage.recorder")

INTERVAL_S = 0.25
BATCH_SIZE = 500
MAX_PENDING = 50_000
MAX_RETRY_PAUSE_S = 5.0
STOP_TIMEOUT_S = 5.0
DROP_LOG_EVERY = 1000

REQUIRED = ("api_key_id", "lineage_id", "tenant_id", "provider", "model")
DEFAULTS: dict[str, Any] = {
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_micros": 0,
    "idempotency_key": None,
    "source": UsageSource.GATEWAY.value,
    "status_code": None,
    "latency_ms": None,
    "streamed": False,
    "estimated": False,
}
FIELDS = frozenset((*REQUIRED, *DEFAULTS, "occurred_at"))


@dataclass
class RecorderStats:
    written: int = 0  # rows committed
    batches: int = 0  # transactions committed
    failures: int = 0  # batches that failed and wait to be retried
    rejected: int = 0  # rows the database refused as data, dropped
    dropped: int = 0  # events dropped because max_pending were already waiting


class UsageRecorder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float = INTERVAL_S,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
        stop_timeout: float = STOP_TIMEOUT_S,
    ) -> None:
        self.sessions = sessions
        self.interval = interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.stop_timeout = stop_timeout
        self.stats = RecorderStats()
        self._pending: list[dict[str, Any]] = []
        self._full = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, values: dict[str, Any]) -> None:
        """Queue one usage event (never blocks). KeyError/ValueError on a missing or unknown field."""
        unknown = values.keys() - FIELDS
        if unknown:
            raise ValueError(f"unknown usage event fields: {sorted(unknown)}")
        missing = [name for name in REQUIRED if values.get(name) is None]
        if missing:
            raise KeyError(f"usage event without {missing}")
        if len(self._pending) >= self.max_pending:
            self._drop()
            return
        self._pending.append({**DEFAULTS, "occurred_at": utcnow(), **values})
        if len(self._pending) >= self.batch_size:
            self._full.set()

    def _drop(self) -> None:
        if self.stats.dropped % DROP_LOG_EVERY == 0:
            log.error(
                "usage recorder: %d events wait for the database (the most it keeps); "
                "dropping new ones (%d so far)",
                len(self._pending),
                self.stats.dropped + 1,
            )
        self.stats.dropped += 1

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        """Let the background task finish its write, then write everything still waiting (for up to
        stop_timeout seconds in all)."""
        deadline = time.monotonic() + self.stop_timeout
        if self._task is not None:
            self._stopping = True
            self._full.set()
            # On a timeout wait_for cancels it: the events it was writing are still pending.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._task, self.stop_timeout)
            self._task = None
        pause = 0.05
        while self._pending:
            try:
                await self.flush()
            except Exception as exc:
                if time.monotonic() + pause > deadline:
                    log.error(
                        "usage recorder: %d events lost at shutdown (%s)",
                        len(self._pending),
                        type(exc).__name__,
                    )
                    self._pending.clear()
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def flush(self) -> int:
        """Write everything waiting now, batch by batch; the number of rows written. Raises (and keeps
        the unwritten events, first in line) when the database cannot be reached."""
        written = 0
        async with self._write_lock:
            while self._pending:
                try:
                    written += await self._write(self._pending[: self.batch_size])
                except BaseException:
                    self.stats.failures += 1
                    raise
            self._full.clear()
        return written

    async def _run(self) -> None:
        pause = self.interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), pause)
            if not self._pending or self._stopping:
                continue
            try:
                await self.flush()
                pause = self.interval
            except Exception as exc:  # kept, retried after a longer pause; logged without the rows
                pause = min(max(pause * 2, self.interval), MAX_RETRY_PAUSE_S)
                log.warning(
                    "usage recorder: writing %d events failed (%s: %s); retrying in %.2f s",
                    len(self._pending),
                    type(exc).__name__,
                    (str(exc).splitlines() or [""])[0][:200],
                    pause,
                )

    async def _write(self, batch: list[dict[str, Any]]) -> int:
        """Write the batch (the first rows pending) and take it off the list; on a data error, row by
        row, so one bad row costs only itself. The writer holds the lock; add() only appends."""
        try:
            await self._insert(batch)
        except (IntegrityError, DataError):
            return await self._write_one_by_one(batch)
        del self._pending[: len(batch)]
        return len(batch)

    async def _write_one_by_one(self, batch: list[dict[str, Any]]) -> int:
        written = 0
        for row in batch:
            try:
                await self._insert([row])
                written += 1
            except (IntegrityError, DataError):
                self._reject(row)
            del self._pending[0]
        return written

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with self.sessions() as session:
            await session.execute(insert(UsageEvent), rows)
            lineages = dict.fromkeys(str(row["lineage_id"]) for row in rows)
            change_feed.note(session, [("spend", lineage) for lineage in lineages])
            await session.commit()
        self.stats.written += len(rows)
        self.stats.batches += 1

    def _reject(self, row: dict[str, Any]) -> None:
        self.stats.rejected += 1
        log.warning(
            "usage recorder: the database refused a usage event (key %s, %s/%s); dropped",
            row["api_key_id"],
            row["provider"],
            row["model"],
        )
