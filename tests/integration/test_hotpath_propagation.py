"""Two app instances (two workers) on one database: a change made through one is obeyed by the other
within a second, through Redis where configured (polling switched off to prove it), and through the
database poll without Redis. A process without a hot path (the command line) publishes to Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from portal.apikeys import queries, services
from portal.apikeys.changes import ChangePublisher
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.db.session import unit_of_work
from tests.support.api import (
    SERVICE_SCOPES,
    TENANTS,
    create_key,
    credentials_url,
    new_tenant,
    portal_url,
    report,
    resolve,
)
from tests.support.apps import client_for, start_app, stop_app
from tests.support.env import API_KEY, REDIS_URL, make_settings, need_service

DEADLINE_S = 1.0
FIRST_OPENAI_KEY = "sk-first-openai-key-0001"


async def _started(settings: Settings, *, polling: bool) -> Litestar:
    app = await start_app(settings)
    app.state.hotpath.polling = polling
    return app


async def _two_workers(settings: Settings, *, polling: bool) -> AsyncIterator[tuple[Litestar, Litestar]]:
    await upgrade(settings)
    first = await _started(settings, polling=polling)
    second = await _started(settings, polling=polling)
    try:
        yield first, second
    finally:
        await stop_app(first)
        await stop_app(second)


@pytest.fixture
async def redis_workers(tmp_path: Path) -> AsyncIterator[tuple[Litestar, Litestar]]:
    need_service("Redis", "127.0.0.1", 6379)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", REDIS_URL=REDIS_URL)
    async for pair in _two_workers(settings, polling=False):
        for app in pair:
            await asyncio.wait_for(app.state.hotpath.subscribed.wait(), 5)
        yield pair


@pytest.fixture
async def polling_workers(tmp_path: Path) -> AsyncIterator[tuple[Litestar, Litestar]]:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    async for pair in _two_workers(settings, polling=True):
        yield pair


async def _until(check, deadline_s: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `check()` holds, polling without a fixed sleep; fails past the deadline."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"not seen within {deadline_s} s")
        await asyncio.sleep(0.005)


async def _status(client: httpx.AsyncClient, key: str, code: str | None = None) -> bool:
    response = await resolve(client, key)
    return response.status_code == 200 if code is None else response.json().get("code") == code


@contextlib.asynccontextmanager
async def _keyed_tenant(
    admin_on: Litestar, service_on: Litestar
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, dict[str, Any], dict[str, Any]]]:
    """The platform admin's client on one worker and a service's on another (or the same), a tenant
    with its own OpenAI key, and the service's API key for it."""
    async with (
        client_for(admin_on, headers={"X-API-Key": API_KEY}) as admin,
        client_for(service_on) as service,
    ):
        tenant = await new_tenant(admin)
        await admin.put(credentials_url(tenant, "openai"), json={"api_key": FIRST_OPENAI_KEY})
        yield admin, service, tenant, await create_key(admin, tenant, scopes=SERVICE_SCOPES)


@pytest.mark.redis
async def test_changes_reach_the_other_worker_through_redis(redis_workers):
    one, two = redis_workers
    async with _keyed_tenant(one, two) as (admin, service, tenant, key):
        other = await create_key(admin, tenant, scopes=SERVICE_SCOPES)
        # Worker two has both keys and the tenant in memory now.
        assert (await resolve(service, key["key"])).json()["secrets"]["api_key"] == FIRST_OPENAI_KEY
        assert (await resolve(service, other["key"])).status_code == 200
        loads = two.state.hotpath.stats.key_loads

        # Revocation.
        assert (await admin.delete(portal_url(tenant, f"/api-keys/{key['id']}"))).status_code == 204
        took = await _until(lambda: _status(service, key["key"], "key_revoked"), DEADLINE_S)
        assert took < DEADLINE_S
        assert (await resolve(service, other["key"])).status_code == 200
        assert two.state.hotpath.stats.key_loads == loads + 1  # only the revoked key was reloaded

        # A replaced credential.
        await admin.put(credentials_url(tenant, "openai"), json={"api_key": "sk-second-openai-key-0002"})

        async def replaced() -> bool:
            response = await resolve(service, other["key"])
            return response.json()["secrets"]["api_key"] == "sk-second-openai-key-0002"

        await _until(replaced, DEADLINE_S)

        # A limit change: lowered under what was spent, then the key is refused.
        await service.post(
            "/api/v1/usage",
            json={"provider": "openai", "model": "gpt-4o", "cost": 2},
            headers={"Authorization": f"Bearer {other['key']}"},
        )
        await admin.patch(portal_url(tenant, f"/api-keys/{other['id']}"), json={"limit_usd": 1})
        await _until(lambda: _status(service, other["key"], "limit_reached"), DEADLINE_S)

        # A suspended tenant.
        await admin.patch(portal_url(tenant, f"/api-keys/{other['id']}"), json={"limit_usd": 100})
        await _until(lambda: _status(service, other["key"]), DEADLINE_S)
        await admin.put(f"{TENANTS}/{tenant['id']}", json={"status": "suspended"})
        await _until(lambda: _status(service, other["key"], "tenant_suspended"), DEADLINE_S)
    assert two.state.hotpath.stats.polls == 0  # nothing came through the database poll
    assert two.state.hotpath.stats.redis_messages >= 5


async def test_changes_reach_the_other_worker_by_polling_without_redis(polling_workers):
    one, two = polling_workers
    async with _keyed_tenant(one, two) as (admin, service, tenant, key):
        assert (await resolve(service, key["key"])).status_code == 200
        models = (await admin.get(portal_url(tenant, "/providers/openai/models"))).json()
        gpt4o = next(m for m in models if m["name"] == "gpt-4o")
        await admin.put(portal_url(tenant, f"/providers/models/{gpt4o['id']}"), json={"enabled": False})
        # The poll runs every 0.5 s without Redis; allow for a loaded machine.
        await _until(lambda: _status(service, key["key"], "model_not_enabled"), 2 * DEADLINE_S)
        assert (await admin.delete(portal_url(tenant, f"/api-keys/{key['id']}"))).status_code == 204
        await _until(lambda: _status(service, key["key"], "key_revoked"), 2 * DEADLINE_S)

        # Usage reported through the first worker counts against the limit on the second one,
        # whose ledger knew the key's spend before.
        limited = await create_key(admin, tenant, limit_usd=1, scopes=SERVICE_SCOPES)
        assert (await resolve(service, limited["key"], model="gpt-4o-mini")).status_code == 200
        async with client_for(one) as reporter:
            answer = await report(reporter, limited["key"], 1)
            assert answer.status_code == 201, answer.text

        async def at_limit() -> bool:
            response = await resolve(service, limited["key"], model="gpt-4o-mini")
            return response.json().get("code") == "limit_reached"

        await _until(at_limit, 2 * DEADLINE_S)
    assert two.state.hotpath.stats.polls >= 1


@pytest.mark.redis
async def test_a_process_without_a_hot_path_reaches_the_servers_through_redis(redis_workers):
    """What `portal keys revoke` does: its own engine, the services, then a publish to Redis."""
    one, _ = redis_workers
    settings = one.state.portal.settings
    async with _keyed_tenant(one, one) as (_admin, service, _tenant, key):
        assert (await resolve(service, key["key"])).status_code == 200

        engine = create_engine(settings)
        publisher = ChangePublisher(engine, settings)
        try:
            async with unit_of_work(create_session_factory(engine)) as db:
                found = await queries.find_key(db, key["id"])
                await services.revoke_key(db, Actor.system("cli"), found)
            await publisher.flush()
        finally:
            await engine.dispose()
        await _until(lambda: _status(service, key["key"], "key_revoked"), DEADLINE_S)
