"""The JSON API as the tests call it: paths, tenants and issued keys made through it, service calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.support.env import API_KEY, unique_slug

TENANTS = "/api/v1/sysadmin/tenants"
AZURE_API_VERSION = "2024-10-21"
OPENAI_KEY = "sk-tenant-openai-0001-abcdef"
# What a service that calls providers itself asks for: new keys default to `inference` alone.
SERVICE_SCOPES = ["resolve", "usage:write"]


def api_headers(extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"X-API-Key": API_KEY, **(extra or {})}


def portal_url(tenant: dict[str, Any], rest: str = "") -> str:
    return f"/api/portal/tenants/{tenant['id']}{rest}"


def credentials_url(tenant: dict[str, Any], provider: str = "") -> str:
    return f"{TENANTS}/{tenant['id']}/credentials" + (f"/{provider}" if provider else "")


def azure_fields(endpoint: str, api_key: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "endpoint": endpoint,
        "api_version": AZURE_API_VERSION,
        "deployment_name": "gpt-4o-prod",
    }


async def new_tenant(api: httpx.AsyncClient, name: str = "Test tenant", **extra: Any) -> dict[str, Any]:
    """A fresh tenant created through the API; returns its JSON."""
    response = await api.post(TENANTS, json={"name": name, "slug": extra.pop("slug", unique_slug()), **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def create_key(api: httpx.AsyncClient, tenant: dict[str, Any], **body: Any) -> dict[str, Any]:
    """An issued key made through the API; its JSON holds the secret once."""
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
