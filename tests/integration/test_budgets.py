"""The spend ledger, on each backend: the memory ledger on SQLite (one process), the database ledger
on PostgreSQL, the Redis ledger. Concurrent reservations never take a budget past its limit, key and
tenant budgets move together or not at all, settling spends at most what was reserved and gives the
rest back, a reservation never settled expires (time driven by a clock the test holds)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.audit.actor import Actor
from portal.budgets.database import DatabaseLedger
from portal.budgets.ledger import RESERVATION_TTL_S, Budget, Ledger, OverBudget, Reservation
from portal.budgets.memory import MemoryLedger
from portal.budgets.redis_ledger import RedisLedger
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.db.models import Tenant
from portal.tenants.services import set_monthly_limit
from tests.conftest import client_for
from tests.integration.apikeys_support import (
    OPENAI_KEY,
    FakeClock,
    bearer,
    create_key,
    refused,
    report,
    resolve,
)
from tests.integration.helpers import credentials_url, new_tenant
from tests.support import REDIS_URL, create_pg_database, drop_pg_database, make_settings, need_service

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
PRICE = 100  # micro-USD a reservation asks for in the race tests
KINDS = ["memory", "database", "redis"]
SHARED = ["database", "redis"]  # the ledgers that several processes share


@dataclass
class Store:
    """A database (and what a ledger of this kind needs) shared by the tests of one kind."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


def new_ledger(kind: str, store: Store, clock: Callable[[], datetime]) -> Ledger:
    if kind == "memory":
        return MemoryLedger(store.sessions, clock=clock)
    if kind == "database":
        return DatabaseLedger(store.engine, clock=clock)
    if kind == "redis":
        return RedisLedger(store.settings, store.sessions, clock=clock)
    raise AssertionError(kind)


@pytest.fixture(scope="module", params=KINDS)
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Store]:
    kind = str(request.param)
    folder: Path = tmp_path_factory.mktemp(f"budgets-{kind}")
    async with _database(kind, folder) as settings:
        engine = create_engine(settings)
        try:
            yield Store(settings, engine, create_session_factory(engine))
        finally:
            await engine.dispose()


@asynccontextmanager
async def _database(kind: str, folder: Path) -> AsyncIterator[Settings]:
    """PostgreSQL for the database ledger, SQLite otherwise; the Redis ledger's keys go at the end."""
    extra = {}
    if kind == "redis":
        need_service("Redis", "127.0.0.1", 6379)
        extra["REDIS_URL"] = REDIS_URL
    if kind == "database":
        need_service("PostgreSQL", "127.0.0.1", 5432)
        url = await create_pg_database()
    else:
        url = f"sqlite+aiosqlite:///{folder / 'ledger.db'}"
    settings = make_settings(folder, url, **extra)
    await upgrade(settings)
    try:
        yield settings
    finally:
        if kind == "database":
            await drop_pg_database(url)
        if kind == "redis":
            await _drop_redis_keys(settings.redis_prefix("budgets"))


async def _drop_redis_keys(prefix: str) -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        async for key in client.scan_iter(prefix + ":*"):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def kind(store: Store, request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["store"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def ledger(kind: str, store: Store, clock: FakeClock) -> AsyncIterator[Ledger]:
    ledger = new_ledger(kind, store, clock)
    await ledger.start()
    try:
        yield ledger
    finally:
        await ledger.stop()


def key_budget(limit: int | None, period: str = "monthly") -> Budget:
    return Budget.of_key(uuid.uuid4(), limit, period, START)


def tenant_budget(limit: int | None) -> Budget:
    return Budget.of_tenant(uuid.uuid4(), limit, START)


async def race(ledger: Ledger, budgets: Sequence[Budget], amount: int, n: int = 50) -> list[Reservation]:
    """n reservations at once; the ones that fit."""

    async def one() -> Reservation | None:
        try:
            return await ledger.reserve(budgets, amount)
        except OverBudget:
            return None

    results = await asyncio.gather(*(one() for _ in range(n)))
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------------- every backend


async def test_fifty_concurrent_reservations_against_five_give_five(ledger: Ledger) -> None:
    budget = key_budget(5 * PRICE)
    won = await race(ledger, [budget], PRICE)
    assert len(won) == 5
    spent = await asyncio.gather(*(ledger.settle(r, PRICE * 3) for r in won))  # asks more than it held
    assert spent == [PRICE] * 5
    assert await ledger.spent(budget) == 5 * PRICE
    with pytest.raises(OverBudget):
        await ledger.reserve([budget], 1)


async def test_key_and_tenant_budgets_are_all_or_nothing(ledger: Ledger) -> None:
    key, tenant = key_budget(1000), tenant_budget(300)
    first = await ledger.reserve([key, tenant], 200)
    with pytest.raises(OverBudget) as refused:
        await ledger.reserve([key, tenant], 200)
    assert refused.value.budget == tenant
    assert (refused.value.spent_micros, refused.value.reserved_micros, refused.value.asked_micros) == (
        0,
        200,
        200,
    )
    # The refused request held nothing on the key: all that is left of it still fits.
    await ledger.reserve([key], 800)
    with pytest.raises(OverBudget) as over_key:
        await ledger.reserve([key], 1)
    assert over_key.value.budget == key
    await ledger.settle(first, 50)
    assert await ledger.spent(key) == 50
    assert await ledger.spent(tenant) == 50


async def test_settle_spends_what_it_cost_up_to_the_reservation_and_frees_the_rest(ledger: Ledger) -> None:
    budget = key_budget(1000)
    held = await ledger.reserve([budget], 600)
    with pytest.raises(OverBudget):
        await ledger.reserve([budget], 600)
    assert await ledger.settle(held, 250) == 250
    assert await ledger.spent(budget) == 250
    assert await ledger.settle(held, 250) == 0  # once per reservation
    assert await ledger.spent(budget) == 250
    rest = await ledger.reserve([budget], 750)  # 250 spent + 750 = the limit
    assert await ledger.settle(rest, 10_000) == 750  # never more than was reserved
    assert await ledger.spent(budget) == 1000
    failed = await ledger.reserve([key_budget(None)], 5)
    assert await ledger.settle(failed, 0) == 0  # a request that failed gives it all back


async def test_a_reservation_never_settled_expires_and_frees_its_amount(
    ledger: Ledger, clock: FakeClock
) -> None:
    budget = key_budget(100)
    lost = await ledger.reserve([budget], 100)
    with pytest.raises(OverBudget):
        await ledger.reserve([budget], 1)
    clock.advance(seconds=RESERVATION_TTL_S - 1)
    with pytest.raises(OverBudget):
        await ledger.reserve([budget], 1)
    clock.advance(seconds=2)
    late = await ledger.reserve([budget], 60)
    assert await ledger.spent(budget) == 0
    # The worker that held it comes back after all: what it cost is spend, the amount was given back.
    assert await ledger.settle(lost, 30) == 30
    assert await ledger.spent(budget) == 30
    assert await ledger.settle(late, 60) == 60
    assert await ledger.spent(budget) == 90


async def test_recorded_spend_is_added_past_the_limit(ledger: Ledger) -> None:
    key, tenant = key_budget(100), tenant_budget(None)
    await ledger.record([key, tenant], 150)
    assert await ledger.spent(key) == 150
    assert await ledger.spent(tenant) == 150
    with pytest.raises(OverBudget):
        await ledger.reserve([key, tenant], 1)
    await ledger.reserve([tenant], 10**9)  # no limit: tracked, never refused


async def test_periods_are_separate_budgets(ledger: Ledger) -> None:
    lineage = uuid.uuid4()
    today = Budget.of_key(lineage, 100, "daily", START)
    tomorrow = Budget.of_key(lineage, 100, "daily", START.replace(day=3))
    await ledger.record([today], 100)
    held = await ledger.reserve([tomorrow], 100)
    assert await ledger.settle(held, 40) == 40
    assert (await ledger.spent(today), await ledger.spent(tomorrow)) == (100, 40)


async def test_amounts_are_whole_micros_zero_or_more(ledger: Ledger) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="micro-USD"):
            await ledger.reserve([key_budget(100)], bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="micro-USD"):
            await ledger.record([key_budget(100)], bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the race, shown


class NaiveLedger:
    """Check, then add, with a database round trip (an await) in between: what the issue's
    LiteLLM reports describe. The race test must catch it, or it proves nothing."""

    def __init__(self) -> None:
        self.spent_and_reserved: dict[str, int] = {}

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> Reservation:
        for budget in budgets:
            used = self.spent_and_reserved.get(budget.ledger_id, 0)
            if budget.limit_micros is not None and used + amount_micros > budget.limit_micros:
                raise OverBudget(budget, used, 0, amount_micros)
        await asyncio.sleep(0)  # the round trip
        for budget in budgets:
            self.spent_and_reserved[budget.ledger_id] = (
                self.spent_and_reserved.get(budget.ledger_id, 0) + amount_micros
            )
        return Reservation(uuid.uuid4(), tuple(budgets), amount_micros, START)


async def test_the_race_test_catches_a_naive_check_then_add() -> None:
    won = await race(NaiveLedger(), [key_budget(5 * PRICE)], PRICE)  # type: ignore[arg-type]
    assert len(won) > 5


# ---------------------------------------------------------------------------- two processes, one ledger


def _hammer(kind: str, settings: Settings, budgets: Sequence[Budget], start: threading.Barrier) -> int:
    """One process (its own event loop, engine and ledger): 25 reservations at once, all settled."""

    async def main() -> int:
        engine = create_engine(settings)
        ledger = new_ledger(kind, Store(settings, engine, create_session_factory(engine)), utcnow)
        try:
            for budget in budgets:
                await ledger.spent(budget)  # connected and warm before the start
            await asyncio.to_thread(start.wait)
            won = await race(ledger, budgets, PRICE, 25)
            await asyncio.gather(*(ledger.settle(r, PRICE) for r in won))
            return len(won)
        finally:
            await ledger.stop()
            await engine.dispose()

    return asyncio.run(main())


@pytest.mark.parametrize("kind", SHARED)
async def test_two_processes_on_one_ledger_never_pass_the_limit_together(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    async with _database(kind, tmp_path_factory.mktemp("two")) as settings:
        budgets = [key_budget(5 * PRICE), tenant_budget(20 * PRICE)]
        start = threading.Barrier(2)
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(_hammer, kind, settings, budgets, start) for _ in range(2)]
            won = [run.result(timeout=120) for run in runs]
        assert sum(won) == 5, won
        engine = create_engine(settings)
        try:
            ledger = new_ledger(kind, Store(settings, engine, create_session_factory(engine)), utcnow)
            assert await ledger.spent(budgets[0]) == 5 * PRICE
            assert await ledger.spent(budgets[1]) == 5 * PRICE
        finally:
            await ledger.stop()
            await engine.dispose()


# ---------------------------------------------------------------------------- from the database


async def test_a_budget_starts_from_the_usage_already_recorded(app: Litestar, api: Any, backend: str) -> None:
    """Usage reported before the ledger first saw the key (another run, the demo seed) counts.
    A new key is its own lineage."""
    tenant = await new_tenant(api)
    key = await create_key(api, tenant, limit_usd=1, scopes=["usage:write"])
    other = await create_key(api, tenant, scopes=["usage:write"])
    async with client_for(app) as service:
        for presented, cost in ((key["key"], 0.25), (key["key"], 0.5), (other["key"], 0.125)):
            answer = await service.post(
                "/api/v1/usage",
                json={"provider": "openai", "model": "gpt-4o", "cost": cost},
                headers=bearer(presented),
            )
            assert answer.status_code == 201, answer.text
    portal = app.state.portal
    now = datetime.now(UTC)
    key_budget = Budget.of_key(uuid.UUID(key["id"]), 10**6, "none", now)
    tenant_budget = Budget.of_tenant(uuid.UUID(tenant["id"]), None, now)
    for fresh in _fresh_ledgers(portal.settings, portal.engine, portal.sessions):
        await fresh.start()
        try:
            assert await fresh.spent(key_budget) == 750_000
            assert await fresh.spent(tenant_budget) == 875_000
            with pytest.raises(OverBudget):
                await fresh.reserve([key_budget, tenant_budget], 250_001)
            await fresh.reserve([key_budget, tenant_budget], 250_000)
        finally:
            await fresh.stop()
            if isinstance(fresh, RedisLedger):
                await _drop_redis_keys(fresh.prefix)


def _fresh_ledgers(
    settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> list[Ledger]:
    """Every kind of ledger the database can have, each seeing these budgets for the first time."""
    fresh: list[Ledger] = [MemoryLedger(sessions)]
    if not settings.is_sqlite:
        fresh.append(DatabaseLedger(engine))
    need_service("Redis", "127.0.0.1", 6379)
    own_prefix = dataclasses.replace(
        settings, redis_url=REDIS_URL, database_url=f"{settings.database_url}#{uuid.uuid4()}"
    )
    fresh.append(RedisLedger(own_prefix, sessions))
    return fresh


# ---------------------------------------------------------------------------- wired into the app


async def _set_tenant_limit(app: Litestar, tenant_id: str, limit_usd: str | None) -> None:
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, uuid.UUID(tenant_id))
        await set_monthly_limit(db, Actor.system("test"), tenant, limit_usd)
        await db.commit()


async def test_reports_go_to_the_apps_ledger_and_resolve_obeys_the_tenants_monthly_limit(
    app: Litestar, api: Any, backend: str
) -> None:
    tenant = await new_tenant(api)
    assert (await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})).status_code == 200
    await _set_tenant_limit(app, tenant["id"], "1")
    first = await create_key(api, tenant, scopes=["resolve", "usage:write"])
    second = await create_key(api, tenant, scopes=["resolve", "usage:write"], limit_usd=5)
    ledger = app.state.hotpath.ledger
    async with client_for(app) as service:
        assert (await resolve(service, first["key"])).status_code == 200
        answer = await report(service, first["key"], "0.6", idempotency_key="once")
        assert answer.status_code == 201 and answer.json()["spent_usd"] == 0.6, answer.text
        again = await report(service, first["key"], "0.6", idempotency_key="once")
        assert again.status_code == 200 and again.json()["duplicate"] is True
        assert (await report(service, second["key"], "0.5")).json()["spent_usd"] == 0.5
        now = app.state.hotpath.clock()
        assert await ledger.spent(Budget.of_tenant(uuid.UUID(tenant["id"]), None, now)) == 1_100_000
        assert await ledger.spent(Budget.of_key(uuid.UUID(first["id"]), None, "none", now)) == 600_000
        # Neither key is at its own limit; the tenant is at its monthly one.
        for key in (first, second):
            refusal = await resolve(service, key["key"])
            refused(refusal, 429, "limit_reached")
            assert "tenant's monthly limit" in refusal.json()["detail"]
        await _set_tenant_limit(app, tenant["id"], None)
        assert (await resolve(service, first["key"])).status_code == 200
