"""Helpers for the gateway's tests: a tenant whose providers are the stub, priced models, issued
keys, the official SDK pointed at a served portal, and the usage events a request left."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from litestar import Litestar
from sqlalchemy import select, update

from portal.config import Settings
from portal.db.models import Model, Provider, UsageEvent
from portal.demo.stub_provider import StubProvider
from tests.integration.apikeys_support import create_key
from tests.integration.helpers import credentials_url, new_tenant, portal_url
from tests.support import CANARY, served_in_thread

PROVIDER = "stubai"
# micro-USD per million tokens: USD 1 per million input tokens, USD 2 per million output tokens.
INPUT_PRICE, OUTPUT_PRICE = 1_000_000, 2_000_000
MAX_OUTPUT = 1000
CHAT, EMBED, UNPRICED, SHARED_NAME = "chat-small", "embed-small", "free-chat", "gpt-4o"


@dataclass
class Tenant:
    json: dict[str, Any]
    provider_id: str

    @property
    def id(self) -> str:
        return str(self.json["id"])


async def stub_tenant(
    api: httpx.AsyncClient, app: Litestar, stub: StubProvider, *extra_models: str, secret: str = CANARY
) -> Tenant:
    """A tenant with a custom provider on the stub (key `secret`) and its own OpenAI key (the stub
    too), with priced models: CHAT, EMBED and `extra_models`; UNPRICED and SHARED_NAME unpriced."""
    tenant = await new_tenant(api)
    models = [CHAT, EMBED, UNPRICED, SHARED_NAME, *extra_models]
    created = await api.post(
        portal_url(tenant, "/providers/"),
        json={"name": PROVIDER, "base_url": f"{stub.url}/v1", "api_key": secret, "models": models},
    )
    assert created.status_code == 201, created.text
    response = await api.put(credentials_url(tenant, "openai"), json={"api_key": secret})
    assert response.status_code == 200, response.text
    await set_prices(app, created.json()["id"], [CHAT, EMBED, *extra_models])
    return Tenant(tenant, created.json()["id"])


async def set_prices(
    app: Litestar,
    provider_id: str,
    names: list[str],
    prices: tuple[int, int] = (INPUT_PRICE, OUTPUT_PRICE),
    max_output: int | None = MAX_OUTPUT,
) -> None:
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(Model)
            .where(Model.provider_id == uuid.UUID(provider_id), Model.name.in_(names))
            .values(input_price_micros=prices[0], output_price_micros=prices[1], max_output_tokens=max_output)
        )
        await db.commit()


async def issue(api: httpx.AsyncClient, tenant: Tenant | dict[str, Any], **body: Any) -> dict[str, Any]:
    """A new key of the tenant (the inference scope unless told), as the API answers it."""
    body.setdefault("scopes", ["inference"])
    body.setdefault("name", f"gw-{uuid.uuid4().hex[:8]}")
    return await create_key(api, tenant.json if isinstance(tenant, Tenant) else tenant, **body)


@asynccontextmanager
async def served_beside(settings: Settings, name: str) -> AsyncIterator[str]:
    """A second app on the tests' database, served by uvicorn in a thread, started and stopped
    without blocking the tests' event loop (the in-process app may hold SQLite's write lock across
    an await meanwhile)."""
    server = served_in_thread(settings, name)
    url = await asyncio.to_thread(server.__enter__)
    try:
        yield url
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


def sdk(base_url: str, key: str, **kwargs: Any) -> openai.AsyncOpenAI:
    """The official SDK pointed at a served portal (no retries unless told)."""
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, **kwargs)


async def gateway_events(app: Litestar, key_id: str, count: int, deadline_s: float = 5.0) -> list[UsageEvent]:
    """The key's gateway usage events, once there are `count` of them (they are written in batches)."""
    end = time.monotonic() + deadline_s
    while True:
        async with app.state.portal.sessions() as db:
            events = list(
                await db.scalars(
                    select(UsageEvent)
                    .where(UsageEvent.api_key_id == uuid.UUID(key_id), UsageEvent.source == "gateway")
                    .order_by(UsageEvent.id)
                )
            )
        if len(events) >= count or time.monotonic() > end:
            assert len(events) == count, f"{len(events)} events, expected {count}"
            return events
        await asyncio.sleep(0.05)


async def provider_of(app: Litestar, provider_id: str) -> Provider:
    async with app.state.portal.sessions() as db:
        found = await db.get(Provider, uuid.UUID(provider_id))
        assert found is not None
        return found
