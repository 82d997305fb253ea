"""Helpers for the issued-key tests: a movable clock, keys through the API, service calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar

from portal.db.base import utcnow
from tests.integration.helpers import portal_url

OPENAI_KEY = "sk-tenant-openai-0001-abcdef"
# What a service that calls providers itself asks for: new keys default to `inference` alone.
SERVICE_SCOPES = ["resolve", "usage:write"]


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.now = moment


@contextmanager
def moved_clock(app: Litestar, start: datetime | None = None) -> Iterator[FakeClock]:
    """The app's clock (keys, grace, expiry, periods, usage times) under the test's control."""
    hotpath = app.state.hotpath
    clock = FakeClock(start or utcnow())
    previous = hotpath.clock
    hotpath.clock = clock
    try:
        yield clock
    finally:
        hotpath.clock = previous


async def create_key(api: httpx.AsyncClient, tenant: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("name", "test-svc-resolver-202611")
    response = await api.post(portal_url(tenant, "/api-keys"), json=body)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()  # type: ignore[no-any-return]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def resolve(
    client: httpx.AsyncClient, key: str, provider: str = "openai", model: str = "gpt-4o"
) -> httpx.Response:
    return await client.post(
        "/api/v1/resolve", json={"provider": provider, "model": model}, headers=bearer(key)
    )


async def report(
    client: httpx.AsyncClient,
    key: str,
    cost: float | str,
    *,
    idempotency_key: str | None = None,
    provider: str = "openai",
    model: str = "gpt-4o",
    tokens: tuple[int, int] = (100, 20),
) -> httpx.Response:
    headers = bearer(key)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    body = {
        "provider": provider,
        "model": model,
        "input_tokens": tokens[0],
        "output_tokens": tokens[1],
        "cost": cost,
    }
    return await client.post("/api/v1/usage", json=body, headers=headers)


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    assert response.headers["cache-control"] == "no-store"
