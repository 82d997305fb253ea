"""Two portal server processes on PostgreSQL and Redis, as a scaled-out deployment runs them: the
spend limit holds across both under 50 concurrent SDK requests, and a revoked key is refused by
every process within a second."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.catalog.prices import Prices
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.db.models import Model, UsageEvent
from portal.demo.stub_provider import StubProvider
from tests.integration.gateway_support import PROVIDER, sdk
from tests.integration.helpers import TENANTS
from tests.perf.server import Server
from tests.support import API_KEY, CANARY, create_pg_database, drop_pg_database, make_settings, need_service
from tests.support.processes import process_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_DB_URL = "redis://127.0.0.1:6379/7"
HELLO = [{"role": "user", "content": "one two three"}]
FULL = "gw-procs-full"
DEADLINE_S = 1.0


@dataclass
class Cluster:
    urls: tuple[str, str]
    sessions: async_sessionmaker[AsyncSession]
    upstream: str  # the stub provider's base URL


@pytest.fixture(scope="module")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory, stub_provider: StubProvider
) -> AsyncIterator[Cluster]:
    need_service("PostgreSQL", "127.0.0.1", 5432)
    need_service("Redis", "127.0.0.1", 6379)
    stub_provider.behave(FULL, completion_tokens=1000)
    url = await create_pg_database()
    var = tmp_path_factory.mktemp("gwprocs")
    settings = make_settings(var, url, REDIS_URL=REDIS_DB_URL, OPENAI_BASE_URL=f"{stub_provider.url}/v1")
    await upgrade(settings)
    engine = create_engine(settings)
    env = process_env(settings.environ)  # the shared bytecode cache: the servers start faster
    stack = ExitStack()
    try:
        # One after the other: both sync the built-in catalogue at start-up.
        first = await asyncio.to_thread(stack.enter_context, Server(env, Path(var / "first.log")))
        second = await asyncio.to_thread(stack.enter_context, Server(env, Path(var / "second.log")))
        yield Cluster(
            (first.base_url, second.base_url), create_session_factory(engine), f"{stub_provider.url}/v1"
        )
    finally:
        await asyncio.to_thread(stack.close)
        await engine.dispose()
        await drop_pg_database(url)


async def _tenant_with_key(cluster: Cluster, **key: object) -> tuple[dict, dict]:
    async with httpx.AsyncClient(base_url=cluster.urls[0], headers={"X-API-Key": API_KEY}, timeout=30) as api:
        tenant = (await api.post(TENANTS, json={"name": "Procs", "slug": f"p-{uuid.uuid4().hex[:8]}"})).json()
        base = f"/api/portal/tenants/{tenant['id']}"
        created = await api.post(
            f"{base}/providers/",
            json={"name": PROVIDER, "base_url": cluster.upstream, "api_key": CANARY, "models": [FULL]},
        )
        assert created.status_code == 201, created.text
        async with cluster.sessions() as db:
            await db.execute(
                update(Model)
                .where(Model.provider_id == uuid.UUID(created.json()["id"]))
                .values(input_price_micros=1, output_price_micros=2_000_000, max_output_tokens=1000)
            )
            await db.commit()
        issued = await api.post(f"{base}/api-keys", json={"name": "procs", "scopes": ["inference"], **key})
        assert issued.status_code == 201, issued.text
        return tenant, issued.json()


async def test_fifty_concurrent_requests_on_two_processes_stay_within_the_limit(cluster: Cluster):
    one = Prices(1, 2_000_000).cost_micros(3, 1000)
    limit = 5 * one + one // 2
    _tenant, key = await _tenant_with_key(cluster, limit_usd=f"{limit / 1e6:.6f}")
    clients = [sdk(url, key["key"]) for url in cluster.urls]
    try:
        results = await asyncio.gather(
            *(
                clients[i % 2].chat.completions.create(
                    model=f"{PROVIDER}/{FULL}", messages=HELLO, max_tokens=1000
                )
                for i in range(50)
            ),
            return_exceptions=True,
        )
    finally:
        for client in clients:
            await client.close()
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, openai.APIStatusError) and r.status_code == 402]
    assert len(answered) + len(refused) == 50, [r for r in results if isinstance(r, BaseException)][:3]
    assert len(answered) == 5
    end = time.monotonic() + 5
    while True:
        async with cluster.sessions() as db:
            costs = list(
                await db.scalars(
                    select(UsageEvent.cost_micros).where(UsageEvent.api_key_id == uuid.UUID(key["id"]))
                )
            )
        if len(costs) == 50 or time.monotonic() > end:
            break
        await asyncio.sleep(0.05)
    assert len(costs) == 50
    assert sum(costs) == 5 * one <= limit


async def test_a_revoked_key_is_refused_by_every_process_within_a_second(cluster: Cluster):
    tenant, key = await _tenant_with_key(cluster)
    clients = [sdk(url, key["key"]) for url in cluster.urls]
    try:
        for client in clients:  # each process has the key in memory now
            assert [m.id async for m in client.models.list()] == [f"{PROVIDER}/{FULL}"]
        async with httpx.AsyncClient(base_url=cluster.urls[0], headers={"X-API-Key": API_KEY}) as api:
            revoked = await api.delete(f"/api/portal/tenants/{tenant['id']}/api-keys/{key['id']}")
        assert revoked.status_code == 204
        revoked_at = time.monotonic()
        took = await asyncio.gather(*(_refused_within(client, revoked_at) for client in clients))
    finally:
        for client in clients:
            await client.close()
    assert all(seconds <= DEADLINE_S for seconds in took), took


async def _refused_within(client: openai.AsyncOpenAI, since: float) -> float:
    """Seconds from `since` until this process refuses the key (polling, with a deadline)."""
    while time.monotonic() - since <= DEADLINE_S + 1:
        try:
            await client.models.list()
        except openai.AuthenticationError:
            return time.monotonic() - since
        await asyncio.sleep(0.02)
    return float("inf")
