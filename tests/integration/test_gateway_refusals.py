"""Every refusal and failure of the gateway raises the official SDK's own exception class, in OpenAI's
error shape, and the provider's secret (tests.support.CANARY) is never in an answer, an error or a
log line, even when the provider echoes it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from litestar import Litestar
from sqlalchemy import update

from portal.config import Settings
from portal.db.models import ApiKey, Tenant
from tests.integration.gateway_support import (
    CHAT,
    PROVIDER,
    UNPRICED,
    gateway_events,
    issue,
    sdk,
    served_beside,
    set_prices,
    stub_tenant,
)
from tests.integration.helpers import new_tenant, portal_url
from tests.support import CANARY

HELLO = [{"role": "user", "content": "one two three"}]
BROKEN, SLOW, ECHO_400, BUSY = "gw-broken", "gw-slow", "gw-echo-400", "gw-busy"


@pytest.fixture(scope="module")
async def served(app: Litestar, settings: Settings, stub_provider) -> AsyncIterator[str]:
    stub_provider.behave(BROKEN, error_status=500)
    stub_provider.behave(ECHO_400, error_status=400)
    stub_provider.behave(BUSY, error_status=429)
    stub_provider.behave(SLOW, first_byte_delay_ms=1500)
    async with served_beside(settings, "gateway-refusals-uvicorn") as url:
        yield url


@pytest.fixture(scope="module")
async def impatient(app: Litestar, settings: Settings) -> AsyncIterator[str]:
    """The portal with a first-byte timeout shorter than the slow model's delay."""
    quick = dataclasses.replace(settings, gateway_first_byte_timeout=0.3)
    async with served_beside(quick, "gateway-impatient-uvicorn") as url:
        yield url


@pytest.fixture
async def tenant(api, app, stub_provider):
    return await stub_tenant(api, app, stub_provider, BROKEN, SLOW, ECHO_400, BUSY)


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.body
    assert isinstance(body, dict), body
    assert set(body) == {"message", "type", "code", "param"}, body
    assert CANARY not in str(body) and CANARY not in exc.response.text
    return body


async def test_keys_that_may_not_be_used_are_authentication_errors(served, api, app, tenant):
    revoked = await issue(api, tenant)
    disabled = await issue(api, tenant, disabled=True)
    assert (await api.delete(portal_url(tenant.json, f"/api-keys/{revoked['id']}"))).status_code == 204
    cases = {
        f"{tenant.json['slug']}_sk_" + "A" * 43: "unknown_key",
        revoked["key"]: "key_revoked",
        disabled["key"]: "key_disabled",
    }
    for presented, code in cases.items():
        async with sdk(served, presented) as client:
            with pytest.raises(openai.AuthenticationError) as refused:
                await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
            assert error_of(refused.value)["code"] == code
            assert refused.value.response.headers["www-authenticate"].startswith("Bearer")
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()


async def test_scope_and_model_refusals_are_permission_errors(served, api, tenant):
    resolver = await issue(api, tenant, scopes=["resolve"])
    only_chat = await issue(api, tenant, allowed_models=[CHAT])
    async with sdk(served, resolver["key"]) as client:
        with pytest.raises(openai.PermissionDeniedError) as no_scope:
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
    assert error_of(no_scope.value)["code"] == "scope_missing"
    async with sdk(served, only_chat["key"]) as client:
        with pytest.raises(openai.PermissionDeniedError) as not_allowed:
            await client.chat.completions.create(model=f"{PROVIDER}/{UNPRICED}", messages=HELLO)
    assert error_of(not_allowed.value)["code"] == "model_not_allowed"


async def test_a_limited_key_may_not_use_an_unpriced_model(served, api, app, tenant):
    limited = await issue(api, tenant, limit_usd=5)
    unlimited = await issue(api, tenant)
    async with sdk(served, limited["key"]) as client:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await client.chat.completions.create(model=f"{PROVIDER}/{UNPRICED}", messages=HELLO)
    error = error_of(refused.value)
    assert error["code"] == "model_unpriced" and "no prices" in error["message"]
    async with sdk(served, unlimited["key"]) as client:
        answer = await client.chat.completions.create(model=f"{PROVIDER}/{UNPRICED}", messages=HELLO)
    assert answer.usage is not None
    (event,) = await gateway_events(app, unlimited["id"], 1)
    assert event.cost_micros == 0


async def test_a_request_that_does_not_fit_the_limit_is_402_and_not_retried(served, api, app, tenant):
    # The worst case of one request: its body's bytes plus 1000 output tokens (the model's maximum),
    # about USD 0.0021; the limit is a tenth of that.
    key = await issue(api, tenant, limit_usd="0.0002")
    async with sdk(served, key["key"], max_retries=2) as client:
        with pytest.raises(openai.APIStatusError) as refused:
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
        assert refused.value.status_code == 402
        error = error_of(refused.value)
        assert (error["code"], error["type"]) == ("limit_reached", "insufficient_quota")
        assert "max_tokens" in error["message"]
        # Asking for fewer output tokens fits.
        answer = await client.chat.completions.create(
            model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=5
        )
        assert answer.usage is not None
    # One refusal recorded: the SDK, allowed two retries, did not retry a 402.
    refused_event, served_event = await gateway_events(app, key["id"], 2)
    assert (refused_event.status_code, refused_event.cost_micros) == (402, 0)
    assert served_event.status_code == 200 and served_event.cost_micros > 0


async def test_the_tenants_monthly_limit_applies_beside_the_keys(served, api, app, tenant):
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(Tenant).where(Tenant.id == uuid.UUID(tenant.id)).values(monthly_limit_micros=200)
        )
        await db.commit()
    key = await issue(api, tenant)  # no limit of its own
    async with sdk(served, key["key"]) as client:
        with pytest.raises(openai.APIStatusError) as refused:
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
    assert refused.value.status_code == 402 and "the tenant" in error_of(refused.value)["message"]


async def test_rate_limited_keys_get_429_with_retry_after(served, api, app, tenant):
    key = await issue(api, tenant)
    async with app.state.portal.sessions() as db:  # before the served app first loads the key
        await db.execute(update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(rpm_limit=2))
        await db.commit()
    async with sdk(served, key["key"]) as client:
        for _ in range(2):
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=1)
    assert error_of(refused.value)["code"] == "rate_limited"
    assert int(refused.value.response.headers["retry-after"]) >= 1
    events = await gateway_events(app, key["id"], 3)
    assert [e.status_code for e in events] == [200, 200, 429]


async def test_upstream_failures_are_502_and_504_without_the_secret(
    served, impatient, api, app, tenant, captured_logs
):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            await client.chat.completions.create(model=f"{PROVIDER}/{BROKEN}", messages=HELLO)
        assert failed.value.status_code == 502
        error = error_of(failed.value)
        assert error["code"] == "upstream_error" and "[redacted]" in error["message"]
        with pytest.raises(openai.BadRequestError) as bad:  # the provider's own 400, passed on
            await client.chat.completions.create(model=f"{PROVIDER}/{ECHO_400}", messages=HELLO)
        assert "upstream refused the request" in error_of(bad.value)["message"]
        with pytest.raises(openai.RateLimitError):  # the provider's 429: the SDK may retry it
            await client.chat.completions.create(model=f"{PROVIDER}/{BUSY}", messages=HELLO)
        with pytest.raises(openai.InternalServerError):  # a stream that fails before it starts
            await client.chat.completions.create(model=f"{PROVIDER}/{BROKEN}", messages=HELLO, stream=True)
    async with sdk(impatient, key["key"]) as client:
        with pytest.raises(openai.InternalServerError) as slow:
            await client.chat.completions.create(model=f"{PROVIDER}/{SLOW}", messages=HELLO)
    assert slow.value.status_code == 504 and error_of(slow.value)["code"] == "upstream_timeout"
    events = await gateway_events(app, key["id"], 5)
    assert sorted(e.status_code for e in events) == [400, 429, 502, 502, 504]
    assert all(e.cost_micros == 0 for e in events)  # a failure releases its reservation
    assert CANARY not in captured_logs.text


async def test_a_provider_that_refuses_the_tenants_key_is_a_502_not_the_callers_401(
    served, api, app, stub_provider
):
    tenant = await stub_tenant(api, app, stub_provider, secret="sk-not-accepted-by-the-stub-0001")
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        with pytest.raises(openai.InternalServerError) as failed:
            await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
    error = error_of(failed.value)
    assert failed.value.status_code == 502 and "HTTP 401" in error["message"]
    assert "sk-not-accepted-by-the-stub-0001" not in failed.value.response.text


async def test_an_upstream_the_egress_policy_refuses_is_a_502_naming_the_rule(served, api, app):
    tenant = await new_tenant(api)
    created = await api.post(
        portal_url(tenant, "/providers/"),
        json={"name": "internal", "base_url": "http://10.255.255.1/v1", "api_key": CANARY, "models": ["m"]},
    )
    assert created.status_code == 201, created.text
    await set_prices(app, created.json()["id"], ["m"])
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        with pytest.raises(openai.InternalServerError) as refused:
            await client.chat.completions.create(model="internal/m", messages=HELLO)
    assert "private address" in error_of(refused.value)["message"]


async def test_answers_and_errors_of_the_gateway_are_never_cached_and_carry_the_security_headers(
    served, api, tenant
):
    key = await issue(api, tenant)
    async with httpx.AsyncClient(base_url=served) as client:
        refused = await client.get("/v1/models")
        listed = await client.get("/v1/models", headers={"Authorization": f"Bearer {key['key']}"})
        streamed = await client.post(
            "/v1/chat/completions",
            json={"model": f"{PROVIDER}/{CHAT}", "messages": HELLO, "stream": True},
            headers={"Authorization": f"Bearer {key['key']}"},
        )
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert listed.status_code == 200 and listed.json()["object"] == "list"
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    for response in (refused, listed, streamed):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_no_log_line_holds_the_secret(served, api, app, tenant, captured_logs):
    captured_logs.set_level(logging.DEBUG)
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model=f"{PROVIDER}/{BROKEN}", messages=HELLO)
    await gateway_events(app, key["id"], 2)
    # The server's own log line about the failure was captured, with the provider's echo redacted.
    assert f"{PROVIDER} answered HTTP 500" in captured_logs.text and "[redacted]" in captured_logs.text
    assert CANARY not in captured_logs.text


async def test_a_client_that_stops_waiting_cancels_the_upstream_call_and_is_billed(served, api, app, tenant):
    key = await issue(api, tenant)
    async with sdk(served, key["key"], timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model=f"{PROVIDER}/{SLOW}", messages=HELLO)
    (event,) = await gateway_events(app, key["id"], 1)
    assert (event.status_code, event.streamed, event.estimated) == (499, False, True)
    assert event.cost_micros > 0 and event.latency_ms is not None and event.latency_ms < 1500
