"""TENANT_CREDENTIALS_ENABLED=true: no shared keys, and fields that are optional become required."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from portal.config import Settings
from tests.support.api import credentials_url, new_tenant, portal_url
from tests.support.apps import client_for, running_app
from tests.support.env import API_KEY, make_settings

SHARED_KEY = "sk-valid-provider-key-0001"
VLLM_ENDPOINT = "http://vllm.internal:8000/v1"


@pytest.fixture(scope="module")
async def strict_app(
    app: Litestar, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Litestar]:
    """A second app on the same database (migrated by `app`), with tenant credentials enforced."""
    strict_settings = make_settings(
        tmp_path_factory.mktemp("strict"),
        settings.database_url,
        TENANT_CREDENTIALS_ENABLED="true",
        ANTHROPIC_API_KEY=SHARED_KEY,
        ANTHROPIC_BASE_URL=settings.environ["ANTHROPIC_BASE_URL"],
        OPENAI_API_KEY=SHARED_KEY,
        OPENAI_BASE_URL=settings.environ["OPENAI_BASE_URL"],
    )
    assert strict_settings.strict_credentials
    async with running_app(strict_settings) as application:
        yield application


@pytest.fixture(scope="module")
async def strict(strict_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(strict_app, headers={"X-API-Key": API_KEY}) as client:
        yield client


@pytest.fixture
async def tenant(strict):
    return await new_tenant(strict, name="Strict")


async def test_no_provider_is_ever_shared(strict, tenant):
    response = await strict.get(portal_url(tenant, "/providers"))
    assert response.status_code == 200
    providers = {p["name"]: p for p in response.json()}
    assert {p["credential_source"] for p in providers.values()} == {"none"}
    # The environment has keys for these two, and strict mode ignores them.
    for name in ("anthropic", "openai"):
        assert providers[name]["has_api_key"] is False
    assert (await strict.get(portal_url(tenant, "/providers/with-keys"))).json() == []


async def test_own_keys_still_count(strict, tenant):
    saved = await strict.put(credentials_url(tenant, "anthropic"), json={"api_key": SHARED_KEY})
    assert saved.status_code == 200, saved.text
    providers = {p["name"]: p for p in (await strict.get(portal_url(tenant, "/providers"))).json()}
    assert providers["anthropic"]["credential_source"] == "tenant"
    assert {p["credential_source"] for n, p in providers.items() if n != "anthropic"} == {"none"}
    with_keys = (await strict.get(portal_url(tenant, "/providers/with-keys"))).json()
    assert [p["name"] for p in with_keys] == ["anthropic"]


async def test_connection_test_never_falls_back_to_the_shared_key(strict, tenant):
    response = await strict.post(portal_url(tenant, "/credentials/anthropic/test"))
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    assert "no credential" in body["reason"]
    assert "shared" not in body["reason"]


async def test_the_same_tenant_is_shared_in_the_default_mode(api, strict, tenant):
    """The mode is the app's, not the tenant's: the same tenant seen by the default app."""
    providers = {p["name"]: p for p in (await api.get(portal_url(tenant, "/providers"))).json()}
    assert providers["anthropic"]["credential_source"] == "shared"


async def test_vllm_needs_an_api_key_in_strict_mode(strict, tenant):
    response = await strict.put(credentials_url(tenant, "vllm"), json={"endpoint": VLLM_ENDPOINT})
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body["errors"]) == {"api_key"}
    assert "enforced" in body["errors"]["api_key"]
    keys = await strict.post(
        portal_url(tenant, "/llm-keys"), json={"provider": "vllm", "endpoint": VLLM_ENDPOINT}
    )
    assert keys.status_code == 400
    assert set(keys.json()["errors"]) == {"api_key"}
    assert (await strict.get(credentials_url(tenant))).json()["credentials"] == []


async def test_vllm_needs_an_endpoint_in_every_mode(strict, api, tenant):
    for client in (strict, api):
        response = await client.put(credentials_url(tenant, "vllm"), json={"api_key": SHARED_KEY})
        assert response.status_code == 400, response.text
        assert set(response.json()["errors"]) == {"endpoint"}
    neither = await strict.put(credentials_url(tenant, "vllm"), json={})
    assert set(neither.json()["errors"]) == {"api_key", "endpoint"}


async def test_vllm_with_both_is_accepted_in_strict_mode(strict, tenant):
    response = await strict.put(
        credentials_url(tenant, "vllm"), json={"api_key": SHARED_KEY, "endpoint": VLLM_ENDPOINT}
    )
    assert response.status_code == 200, response.text
    assert response.json()["config"] == {"endpoint": VLLM_ENDPOINT}


async def test_fields_say_what_is_required_in_each_mode(strict, api, tenant):
    def vllm_api_key(providers):
        vllm = next(p for p in providers if p["name"] == "vllm")
        return next(f for f in vllm["fields"] if f["name"] == "api_key")["required"]

    assert vllm_api_key((await strict.get(portal_url(tenant, "/providers"))).json()) is True
    assert vllm_api_key((await api.get(portal_url(tenant, "/providers"))).json()) is False


async def test_vllm_without_api_key_is_accepted_in_shared_mode(api):
    tenant = await new_tenant(api, name="Shared mode")
    response = await api.put(credentials_url(tenant, "vllm"), json={"endpoint": VLLM_ENDPOINT})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["config"] == {"endpoint": VLLM_ENDPOINT}
    assert body["masked_key"] == "..."
    assert body["encryption_status"] == "encrypted"
    providers = {p["name"]: p for p in (await api.get(portal_url(tenant, "/providers"))).json()}
    assert providers["vllm"]["credential_source"] == "tenant"
