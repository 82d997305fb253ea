"""Gateway usage events written in batches off the request path (portal.usage.recorder): batching,
the background writer, retries while the database is away, bounded memory, rows the database refuses,
the flush at shutdown, and the hot path learning of the new spend at once (this process) and through
the database poll (another process). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys import changes as change_feed
from portal.budgets.ledger import Budget, OverBudget
from portal.db.base import utcnow
from portal.db.engine import create_engine, create_session_factory
from portal.db.models import ApiKey, UsageEvent
from portal.db.models.apikeys import UsageSource
from portal.usage.recorder import UsageRecorder
from tests.conftest import client_for
from tests.integration.apikeys_support import OPENAI_KEY, create_key, resolve
from tests.integration.helpers import credentials_url, new_tenant
from tests.integration.test_hotpath_propagation import polling_workers, redis_workers  # noqa: F401  (fixtures)
from tests.support import API_KEY, REDIS_URL, make_settings

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def sessions(app: Litestar) -> Sessions:
    return app.state.portal.sessions  # type: ignore[no-any-return]


@pytest.fixture
async def key(api: httpx.AsyncClient, sessions: Sessions) -> dict[str, Any]:
    """An issued key (limit 1 USD) of a tenant with its own OpenAI key, with its lineage id."""
    return await _key(api, sessions)


async def _key(api: httpx.AsyncClient, sessions: Sessions) -> dict[str, Any]:
    tenant = await new_tenant(api)
    assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    created = await create_key(api, tenant, scopes=["resolve", "inference"], limit_usd=1)
    async with sessions() as db:
        row = await db.get(ApiKey, uuid.UUID(created["id"]))
        assert row is not None
        return {**created, "lineage_id": row.lineage_id, "tenant_id": row.tenant_id, "key_id": row.id}


def event(key: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {
        "api_key_id": key["key_id"],
        "lineage_id": key["lineage_id"],
        "tenant_id": key["tenant_id"],
        "provider": "openai",
        "model": "gpt-4o-mini",
        **values,
    }


async def rows_of(sessions: Sessions, key: dict[str, Any]) -> list[UsageEvent]:
    async with sessions() as db:
        found = await db.scalars(
            select(UsageEvent).where(UsageEvent.api_key_id == key["key_id"]).order_by(UsageEvent.id)
        )
        return list(found)


async def until(check: Callable[[], bool | Awaitable[bool]], deadline_s: float = 5.0) -> None:
    """Wait for a condition the background task makes true, without a fixed sleep."""
    started = time.monotonic()
    while True:
        outcome = check()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"not seen within {deadline_s} s")
        await asyncio.sleep(0.005)


@pytest.fixture
async def recorder(sessions: Sessions) -> AsyncIterator[UsageRecorder]:
    made = UsageRecorder(sessions, interval=3600)  # written only by flush() or a full batch
    yield made
    await made.stop()


def unreachable(backend: str, tmp_path: Path) -> Sessions:
    """Sessions of a database that is not there (a real failure, not a mock)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'nowhere.db'}"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:9/nowhere"  # the discard port: refused
    return create_session_factory(create_engine(make_settings(tmp_path, url)))


async def test_events_are_written_with_their_values_and_defaults(recorder, key, sessions, backend):
    before = utcnow()
    recorder.add(
        event(key, input_tokens=12, output_tokens=30, cost_micros=21, status_code=200, latency_ms=840)
    )
    recorder.add(event(key, status_code=502, streamed=True, estimated=True, cost_micros=7))
    assert recorder.pending == 2 and await rows_of(sessions, key) == []  # nothing written yet
    assert await recorder.flush() == 2
    first, second = await rows_of(sessions, key)
    assert (first.input_tokens, first.output_tokens, first.cost_micros) == (12, 30, 21)
    assert (first.status_code, first.latency_ms, first.streamed, first.estimated) == (200, 840, False, False)
    assert (second.status_code, second.streamed, second.estimated, second.input_tokens) == (
        502,
        True,
        True,
        0,
    )
    assert first.source == second.source == UsageSource.GATEWAY
    assert first.tenant_id == key["tenant_id"] and first.lineage_id == key["lineage_id"]
    # occurred_at is the time of add(), not of the flush
    assert before - timedelta(seconds=1) <= first.occurred_at.replace(tzinfo=before.tzinfo) <= utcnow()
    assert recorder.pending == 0 and recorder.stats.batches == 1


async def test_a_full_batch_is_written_at_once_in_one_transaction_each(recorder, key, sessions, backend):
    recorder.batch_size = 50
    await recorder.start()
    for _ in range(120):
        recorder.add(event(key, cost_micros=1))
    # Written at once, without waiting the 1-hour interval: what waits, in batches of at most 50.
    await until(lambda: recorder.stats.written == 120)
    assert recorder.stats.batches == 3 and recorder.pending == 0
    assert len(await rows_of(sessions, key)) == 120


async def test_the_background_task_writes_every_interval(sessions, key, backend):
    recorder = UsageRecorder(sessions, interval=0.02)
    await recorder.start()
    try:
        recorder.add(event(key))
        await until(lambda: recorder.stats.written == 1)
        assert len(await rows_of(sessions, key)) == 1
    finally:
        await recorder.stop()


async def test_a_database_away_keeps_the_batch_and_retries(key, sessions, backend, tmp_path, caplog):
    recorder = UsageRecorder(unreachable(backend, tmp_path), interval=0.01, batch_size=2)
    caplog.set_level(logging.WARNING, "portal.usage.recorder")
    for n in range(3):
        recorder.add(event(key, cost_micros=n))
    with pytest.raises(Exception):  # noqa: B017  (the driver's own error: OperationalError, OSError…)
        await recorder.flush()
    assert recorder.pending == 3  # nothing lost
    await recorder.start()
    await until(lambda: recorder.stats.failures >= 3)  # the background task keeps trying
    assert "writing 3 events failed" in caplog.text
    recorder.sessions = sessions  # the database is back
    await until(lambda: recorder.pending == 0)
    await recorder.stop()
    assert [r.cost_micros for r in await rows_of(sessions, key)] == [0, 1, 2]  # once each, in order


async def test_memory_is_bounded_while_the_database_is_away(key, backend, tmp_path, caplog):
    recorder = UsageRecorder(unreachable(backend, tmp_path), max_pending=3, stop_timeout=0.05)
    for _ in range(5):
        recorder.add(event(key))
    assert recorder.pending == 3 and recorder.stats.dropped == 2
    assert "dropping new ones" in caplog.text
    await recorder.stop()  # gives up after stop_timeout and says how many were lost
    assert "3 events lost at shutdown" in caplog.text and recorder.pending == 0


async def test_a_row_the_database_refuses_costs_only_itself(recorder, key, sessions, backend, caplog):
    recorder.add(event(key, cost_micros=1))
    recorder.add(event(key, api_key_id=uuid.uuid4(), cost_micros=2))  # no such key: foreign key refused
    recorder.add(event(key, cost_micros=3))
    assert await recorder.flush() == 2
    assert [r.cost_micros for r in await rows_of(sessions, key)] == [1, 3]
    assert recorder.stats.rejected == 1 and recorder.pending == 0
    assert "refused a usage event" in caplog.text


def test_add_checks_the_fields_at_once(recorder, key):
    with pytest.raises(ValueError, match="cost_usd"):
        recorder.add(event(key, cost_usd=1))
    with pytest.raises(KeyError, match="model"):
        recorder.add({k: v for k, v in event(key).items() if k != "model"})
    assert recorder.pending == 0


async def test_the_app_holds_a_running_recorder(app: Litestar):
    recorder = app.state.portal.usage_recorder
    assert isinstance(recorder, UsageRecorder)
    assert recorder._task is not None and not recorder._task.done()


async def test_gateway_spend_counts_at_once_and_once(app, api, key, recorder, backend):
    """The gateway's way: the ledger settles at once and the recorder writes the row later; the
    row written must not count a second time (the ledger catches up with it, never adds it)."""
    ledger = app.state.hotpath.ledger
    now = utcnow()
    budgets = [Budget.of_key(key["lineage_id"], 1_000_000, "none", now)]
    async with client_for(app) as service:
        assert (await resolve(service, key["key"])).status_code == 200  # the spend (0) is cached now
        reservation = await ledger.reserve(budgets, 900_000)
        assert await ledger.settle(reservation, 900_000) == 900_000
        recorder.add(event(key, cost_micros=900_000))
        await recorder.flush()
        answer = (await resolve(service, key["key"])).json()
        assert answer["spend"]["spent_usd"] == 0.9, answer
        with pytest.raises(OverBudget):
            await ledger.reserve(budgets, 100_001)
        await app.state.hotpath.propagation.poll_once()  # the row is seen: no second count
        assert await ledger.spent(budgets[0]) == 900_000


async def _spend_reaches_the_other_worker(
    one: Litestar, two: Litestar, deadline_s: float, *, polls: bool
) -> None:
    """Spend worker one's gateway settled (in its ledger first, then the recorder's row) refuses the
    key on worker two: at once where the ledger is shared (Redis), through the poll of the rows where
    each process has its own (one SQLite file, no Redis)."""
    async with client_for(one, headers={"X-API-Key": API_KEY}) as admin, client_for(two) as service:
        key = await _key(admin, one.state.portal.sessions)
        assert (await resolve(service, key["key"])).status_code == 200  # worker two's budget is loaded
        if polls:  # worker two has seen every audit row up to now: the next poll finds usage rows alone
            await two.state.hotpath.propagation.poll_once()
        hotpath = one.state.hotpath
        budgets = hotpath.budgets(await hotpath.authenticate(key["key"]))
        held = await hotpath.ledger.reserve(budgets, 1_000_000)
        assert await hotpath.ledger.settle(held, 1_000_000) == 1_000_000  # the whole 1 USD limit
        one.state.portal.usage_recorder.add(event(key, cost_micros=1_000_000))
        await one.state.portal.usage_recorder.flush()

        async def refused() -> bool:
            return (await resolve(service, key["key"])).json().get("code") == "limit_reached"

        await until(refused, deadline_s)


async def test_new_spend_reaches_another_process_through_the_poll(polling_workers):  # noqa: F811
    one, two = polling_workers
    await _spend_reaches_the_other_worker(
        one, two, 2.0, polls=True
    )  # the poll runs every 0.5 s without Redis


@pytest.mark.redis
async def test_new_usage_is_announced_to_the_other_processes_through_redis(redis_workers):  # noqa: F811
    """With Redis the ledger is shared (every process reserves and settles in it), so the rows are
    history; the flush's commit still names its lineages on the hot path's channel, like a report's."""
    import redis.asyncio as aioredis

    one, two = redis_workers
    async with client_for(one, headers={"X-API-Key": API_KEY}) as admin:
        key = await _key(admin, one.state.portal.sessions)
    client = aioredis.from_url(REDIS_URL)
    try:
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(change_feed.channel_for(one.state.portal.settings))
            one.state.portal.usage_recorder.add(event(key, cost_micros=1))
            await one.state.portal.usage_recorder.flush()
            expected = ["spend", str(key["lineage_id"])]
            while True:  # the channel's messages until ours (the test's timeout bounds the wait)
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and expected in json.loads(message["data"])["changes"]:
                    break
    finally:
        await client.aclose()
    assert two.state.hotpath.stats.polls == 0


async def test_many_events_one_insert_per_batch(recorder, key, sessions, backend):
    recorder.batch_size = 500
    for n in range(1200):
        recorder.add(event(key, cost_micros=n))
    assert await recorder.flush() == 1200
    assert recorder.stats.batches == 3
    async with sessions() as db:
        total = await db.scalar(
            select(func.sum(UsageEvent.cost_micros)).where(UsageEvent.api_key_id == key["key_id"])
        )
    assert total == sum(range(1200))
