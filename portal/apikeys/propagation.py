"""How changes reach the hot path's store (see portal.apikeys.changes for what a change is):

- this process's own commits, at once (the session listener calls `on_commit`);
- other workers' and the command line's commits through Redis pub/sub, within milliseconds,
  where REDIS_URL is set;
- a poll of the audit and usage tables (every 0.5 s without Redis, every 5 s with it as a
  backstop), which also covers workers without Redis and messages lost while Redis was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.apikeys import changes as change_feed
from portal.apikeys.changes import Change
from portal.apikeys.store import KeyStore
from portal.config import Settings
from portal.db.models import AuditEvent, UsageEvent

log = logging.getLogger("portal.hotpath")

FAST_POLL_S = 0.5  # without Redis: changes from other processes show within this
BACKSTOP_POLL_S = 5.0  # with Redis: only a backstop
USAGE_LOOKBACK = 256  # PostgreSQL may commit usage rows out of id order: look back this far
AUDIT_BATCH = 5000
USAGE_BATCH = 20_000


class Propagation:
    def __init__(self, store: KeyStore, settings: Settings, engine: AsyncEngine) -> None:
        self.store = store
        self.stats = store.stats
        self.engine = engine
        self.redis_url = settings.redis_url
        self.poll_interval = BACKSTOP_POLL_S if settings.redis_url else FAST_POLL_S
        self.polling = True
        self.subscribed = asyncio.Event()
        self.channel = change_feed.channel_for(settings)
        self.origin = os.urandom(8).hex()
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[list[Change]] | None = None
        self._redis: Any = None
        self._audit_seen = 0
        self._usage_max = 0
        self._usage_recent: set[int] = set()
        self._polled = asyncio.Lock()  # a poll and skip_to_end never interleave their cursors
        change_feed.register(engine, self)  # this process's own commits, from the start

    async def start(self) -> None:
        """Poll (and subscribe to Redis) for other processes' changes; this one's arrive regardless."""
        await self.skip_to_end()
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="hotpath-poll"))
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            self._outbox = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._subscribe_loop(), name="hotpath-subscribe"))
            self._tasks.append(asyncio.create_task(self._publish_loop(), name="hotpath-publish"))

    async def stop(self) -> None:
        if self._outbox is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def skip_to_end(self) -> None:
        """Take what the audit and usage tables hold now as known: the poll reads on from here.
        Also after the tables were emptied under a running app (ids may then start again)."""
        async with self._polled, self.engine.connect() as conn:
            self._audit_seen = (await conn.scalar(select(func.max(AuditEvent.id)))) or 0
            self._usage_max = (await conn.scalar(select(func.max(UsageEvent.id)))) or 0
            self._usage_recent = set(
                (
                    await conn.scalars(
                        select(UsageEvent.id).where(UsageEvent.id > self._usage_max - USAGE_LOOKBACK)
                    )
                ).all()
            )

    def on_commit(self, changes: list[Change]) -> None:
        """Called by the session listener after this process commits. Its own usage is already in
        its ledger (the writer settled or recorded it): only other processes' usage is news."""
        self.store.apply([change for change in changes if change[0] != "spend"])
        if self._outbox is not None:
            self._outbox.put_nowait(changes)

    # ------------------------------------------------------------------ the database poll

    async def _poll_loop(self) -> None:
        while True:
            subscribed = self._redis is None or self.subscribed.is_set()
            await asyncio.sleep(self.poll_interval if subscribed else FAST_POLL_S)
            if not self.polling:
                continue
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not stop the loop
                log.warning("hot path poll failed: %s", type(exc).__name__)

    async def poll_once(self) -> None:
        """Apply changes committed by other processes, read from the audit and usage tables."""
        async with self._polled:
            await self._poll()

    async def _poll(self) -> None:
        self.stats.polls += 1
        found: list[Change] = []
        async with self.engine.connect() as conn:
            audit_rows = (
                await conn.execute(
                    select(AuditEvent.id, AuditEvent.action, AuditEvent.tenant_id, AuditEvent.target)
                    .where(AuditEvent.id > self._audit_seen)
                    .order_by(AuditEvent.id)
                    .limit(AUDIT_BATCH)
                )
            ).all()
            floor = self._usage_max - USAGE_LOOKBACK
            usage_rows = (
                await conn.execute(
                    select(UsageEvent.id, UsageEvent.lineage_id)
                    .where(UsageEvent.id > floor)
                    .order_by(UsageEvent.id)
                    .limit(USAGE_BATCH)
                )
            ).all()
        for row in audit_rows:
            found.extend(change_feed.changes_from_audit(row.action, row.tenant_id, row.target))
            self._audit_seen = max(self._audit_seen, row.id)
        if len(audit_rows) == AUDIT_BATCH:
            found.append(("all", "*"))
        for usage_row in usage_rows:
            if usage_row.id not in self._usage_recent:
                self._usage_recent.add(usage_row.id)
                found.append(("spend", str(usage_row.lineage_id)))
                self._usage_max = max(self._usage_max, usage_row.id)
        floor = self._usage_max - USAGE_LOOKBACK
        self._usage_recent = {i for i in self._usage_recent if i > floor}
        if found:
            self.store.apply(list(dict.fromkeys(found)))

    # ------------------------------------------------------------------ Redis

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            batch = await self._outbox.get()
            try:
                payload = json.dumps({"origin": self.origin, "changes": batch})
                await self._redis.publish(self.channel, payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll backstop still carries it
                log.warning("hot path: publishing to Redis failed: %s", type(exc).__name__)
            finally:
                self._outbox.task_done()

    async def _subscribe_loop(self) -> None:
        delay = 0.2
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if delay > 0.2:  # reconnected: messages may have been missed
                        self.store.forget_all()
                    self.subscribed.set()
                    delay = 0.2
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        self._receive(message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("hot path: Redis subscription lost (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _receive(self, data: Any) -> None:
        try:
            message = json.loads(data)
            if message.get("origin") == self.origin:
                return
            changes = [(str(kind), str(ref)) for kind, ref in message.get("changes", [])]
        except (ValueError, TypeError, AttributeError):
            log.warning("hot path: ignored a malformed Redis message")
            return
        self.stats.redis_messages += 1
        self.store.apply(changes)
