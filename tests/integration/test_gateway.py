"""The OpenAI-compatible gateway, driven by the official `openai` SDK against a served portal whose
upstream is the stub provider on loopback: chat, streams, embeddings, models, names, metering.

Runs on SQLite and on PostgreSQL. Costs are checked against the stub's deterministic usage
(prompt tokens = words of the messages; completion tokens = min(max_tokens, the stub's length))."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from litestar import Litestar

from portal.apikeys.money import format_usd, usd_to_micros
from portal.catalog.prices import Prices
from portal.config import Settings
from tests.integration.gateway_support import (
    CHAT,
    EMBED,
    INPUT_PRICE,
    OUTPUT_PRICE,
    PROVIDER,
    SHARED_NAME,
    gateway_events,
    issue,
    sdk,
    served_beside,
    set_prices,
    stub_tenant,
)
from tests.integration.helpers import AZURE_API_VERSION, azure_fields, credentials_url, new_tenant, portal_url
from tests.support import CANARY

PRICES = Prices(INPUT_PRICE, OUTPUT_PRICE)
HELLO = [{"role": "user", "content": "one two three"}]  # three prompt tokens at the stub
SLOW_STREAM, FULL = "gw-slow-stream", "gw-full"


@pytest.fixture(scope="module")
async def served(app: Litestar, settings: Settings) -> AsyncIterator[str]:
    async with served_beside(settings, "gateway-uvicorn") as url:
        yield url


@pytest.fixture
async def tenant(api, app, stub_provider):
    return await stub_tenant(api, app, stub_provider)


async def test_chat_through_the_tenants_provider_key(served, api, app, tenant, stub_provider):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        answer = await client.chat.completions.create(
            model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=5
        )
    assert answer.choices[0].message.content == "tok tok tok tok tok"
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (3, 5)
    upstream = stub_provider.requests[-1]
    assert upstream["path"] == "/v1/chat/completions"
    assert upstream["authorization"] == f"Bearer {CANARY}"  # the tenant's key, never the caller's
    assert key["key"] not in str(upstream)
    assert upstream["body"]["model"] == CHAT
    (event,) = await gateway_events(app, key["id"], 1)
    assert (event.provider, event.model, event.input_tokens, event.output_tokens) == (PROVIDER, CHAT, 3, 5)
    assert event.cost_micros == PRICES.cost_micros(3, 5)
    assert (event.status_code, event.streamed, event.estimated) == (200, False, False)
    assert event.lineage_id is not None and str(event.tenant_id) == tenant.id
    assert event.latency_ms is not None and event.latency_ms >= 0


async def test_streamed_chat_relays_events_and_hides_the_usage_chunk_unless_asked(
    served, api, app, tenant, stub_provider
):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        stream = await client.chat.completions.create(
            model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=4, stream=True
        )
        chunks = [chunk async for chunk in stream]
        asked = await client.chat.completions.create(
            model=f"{PROVIDER}/{CHAT}",
            messages=HELLO,
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
        with_usage = [chunk async for chunk in asked]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "tok tok tok tok "
    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)
    # The gateway asked the provider for usage either way.
    assert stub_provider.requests[-2]["body"]["stream_options"] == {"include_usage": True}
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens == 4
    first, second = await gateway_events(app, key["id"], 2)
    assert first.streamed and not first.estimated and first.output_tokens == 4
    assert first.cost_micros == second.cost_micros == PRICES.cost_micros(3, 4)


async def test_a_streamed_request_costs_what_the_same_unstreamed_request_costs(served, api, app, tenant):
    key = await issue(api, tenant)
    request = {"model": f"{PROVIDER}/{CHAT}", "messages": HELLO, "max_completion_tokens": 7}
    async with sdk(served, key["key"]) as client:
        await client.chat.completions.create(**request)
        stream = await client.chat.completions.create(**request, stream=True)
        async for _ in stream:
            pass
    plain, streamed = await gateway_events(app, key["id"], 2)
    assert (plain.streamed, streamed.streamed) == (False, True)
    assert plain.cost_micros == streamed.cost_micros == PRICES.cost_micros(3, 7) > 0
    assert (plain.input_tokens, plain.output_tokens) == (streamed.input_tokens, streamed.output_tokens)


async def test_embeddings(served, api, app, tenant, stub_provider):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        answer = await client.embeddings.create(model=f"{PROVIDER}/{EMBED}", input=["a b", "c d e"])
    assert len(answer.data) == 2 and len(answer.data[0].embedding) == 8
    assert stub_provider.requests[-1]["path"] == "/v1/embeddings"
    (event,) = await gateway_events(app, key["id"], 1)
    assert (event.input_tokens, event.output_tokens) == (5, 0)
    assert event.cost_micros == PRICES.cost_micros(5, 0)


async def test_models_lists_what_the_key_may_call(served, api, tenant):
    everything = await issue(api, tenant)
    only_chat = await issue(api, tenant, allowed_models=[CHAT])
    async with sdk(served, everything["key"]) as client:
        ids = {model.id async for model in client.models.list()}
    assert {f"{PROVIDER}/{CHAT}", f"{PROVIDER}/{EMBED}", "openai/gpt-4o", "openai/gpt-4o-mini"} <= ids
    assert "anthropic/claude-sonnet-4-5" in ids  # the shared key of the test settings applies
    assert not any(i.startswith("mistral/") for i in ids)  # no credential: not callable
    async with sdk(served, only_chat["key"]) as client:
        assert [model.id async for model in client.models.list()] == [f"{PROVIDER}/{CHAT}"]


async def test_model_names_bare_ambiguous_and_unknown(served, api, app, tenant):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        answer = await client.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=1)
        assert answer.usage is not None
        with pytest.raises(openai.BadRequestError) as ambiguous:
            await client.chat.completions.create(model=SHARED_NAME, messages=HELLO)
        with pytest.raises(openai.NotFoundError) as unknown:
            await client.chat.completions.create(model="no-such-model", messages=HELLO)
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model=f"{PROVIDER}/no-such-model", messages=HELLO)
    error = ambiguous.value.body
    assert isinstance(error, dict) and error["code"] == "ambiguous_model" and error["param"] == "model"
    assert f"openai/{SHARED_NAME}" in error["message"] and f"{PROVIDER}/{SHARED_NAME}" in error["message"]
    assert unknown.value.body["code"] == "unknown_model"  # type: ignore[index]
    (event,) = await gateway_events(app, key["id"], 1)
    assert event.model == CHAT


async def test_bad_requests_name_the_parameter(served, api, tenant):
    key = await issue(api, tenant)
    headers = {"Authorization": f"Bearer {key['key']}"}
    cases = [
        ({"messages": HELLO}, "model"),
        ({"model": CHAT, "messages": []}, "messages"),
        ({"model": CHAT, "messages": HELLO, "max_tokens": 0}, "max_tokens"),
        ({"model": CHAT, "messages": HELLO, "n": 1000}, "n"),
        ({"model": CHAT, "messages": HELLO, "stream": "yes"}, "stream"),
    ]
    async with httpx.AsyncClient(base_url=served) as client:
        for body, param in cases:
            response = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert response.status_code == 400, response.text
            error = response.json()["error"]
            assert (error["type"], error["code"], error["param"]) == (
                "invalid_request_error",
                "invalid_request",
                param,
            )
        response = await client.post("/v1/chat/completions", content=b"{not json", headers=headers)
        assert response.status_code == 400 and response.json()["error"]["param"] == "body"
        response = await client.post("/v1/embeddings", json={"model": EMBED, "input": []}, headers=headers)
        assert response.status_code == 400 and response.json()["error"]["param"] == "input"
    async with sdk(served, key["key"]) as sdk_client:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk_client.chat.completions.create(model=CHAT, messages=[])
    assert refused.value.body["param"] == "messages"  # type: ignore[index]


async def test_a_client_that_goes_away_mid_stream_stops_the_upstream_and_is_billed(
    served, api, app, stub_provider
):
    stub_provider.behave(SLOW_STREAM, chunk_delay_ms=50, completion_tokens=200)
    tenant = await stub_tenant(api, app, stub_provider, SLOW_STREAM)
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        stream = await client.chat.completions.create(
            model=f"{PROVIDER}/{SLOW_STREAM}", messages=HELLO, max_tokens=200, stream=True
        )
        async for _first in stream:
            break
        await stream.close()
    record = next(r for r in reversed(stub_provider.streams) if r.model == SLOW_STREAM)
    assert await asyncio.to_thread(record.ended.wait, 10), "the upstream stream did not end"
    assert record.client_closed and not record.completed and record.chunks_sent < 200
    (event,) = await gateway_events(app, key["id"], 1)
    assert (event.status_code, event.streamed, event.estimated) == (499, True, True)
    # Charged its reservation: at least the 200 output tokens it may have caused.
    assert event.cost_micros >= PRICES.cost_micros(0, 200)


async def test_fifty_concurrent_requests_leave_spend_within_a_limit_that_fits_five(
    served, api, app, stub_provider
):
    stub_provider.behave(FULL, completion_tokens=1000)
    tenant = await stub_tenant(api, app, stub_provider, FULL)
    # Input nearly free, 1000 output tokens at USD 2 per million: worst case = actual = 2001 micro-USD.
    await set_prices(app, tenant.provider_id, [FULL], prices=(1, 2_000_000), max_output=1000)
    one = Prices(1, 2_000_000).cost_micros(3, 1000)
    limit = 5 * one + one // 2
    key = await issue(api, tenant, limit_usd=f"{limit / 1e6:.6f}")
    async with sdk(served, key["key"]) as client:
        results = await asyncio.gather(
            *(
                client.chat.completions.create(model=f"{PROVIDER}/{FULL}", messages=HELLO, max_tokens=1000)
                for _ in range(50)
            ),
            return_exceptions=True,
        )
    answered = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, openai.APIStatusError) and r.status_code == 402]
    assert len(answered) + len(refused) == 50, [r for r in results if isinstance(r, BaseException)][:3]
    assert len(answered) == 5
    events = await gateway_events(app, key["id"], 50)
    spent = sum(e.cost_micros for e in events)
    assert spent == 5 * one <= limit
    # The key's spend, as the portal's API and its page show it, within seconds.
    await _shows_spend(api, app, tenant, key, spent)


async def _shows_spend(api, app, tenant, key, spent: int, deadline_s: float = 5.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        answer = (await api.get(portal_url(tenant.json, f"/api-keys/{key['id']}"))).json()
        if usd_to_micros(answer["spent_usd"], allow_zero=True) == spent or time.monotonic() > end:
            break
        await asyncio.sleep(0.05)
    assert usd_to_micros(answer["spent_usd"], allow_zero=True) == spent, answer
    page = await api.get(f"/t/{tenant.json['slug']}/api-keys/{key['id']}")
    assert page.status_code == 200 and format_usd(spent) in page.text


async def test_the_keys_spend_shows_on_its_page_within_seconds(served, api, app, tenant):
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        await client.chat.completions.create(model=f"{PROVIDER}/{CHAT}", messages=HELLO, max_tokens=8)
    await _shows_spend(api, app, tenant, key, PRICES.cost_micros(3, 8))


async def test_azure_goes_through_its_deployment_url_with_the_api_key_header(served, api, stub_provider):
    tenant = await new_tenant(api)
    response = await api.put(credentials_url(tenant, "azure"), json=azure_fields(stub_provider.url, CANARY))
    assert response.status_code == 200, response.text
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        answer = await client.chat.completions.create(model="azure/gpt-4o", messages=HELLO, max_tokens=2)
    assert answer.model == "gpt-4o-prod"  # the stub answers as the deployment
    upstream = stub_provider.requests[-1]
    assert (
        upstream["path"]
        == f"/openai/deployments/gpt-4o-prod/chat/completions?api-version={AZURE_API_VERSION}"
    )
    assert upstream["api-key"] == CANARY and "authorization" not in upstream


async def test_anthropic_through_its_openai_compatible_endpoint_with_the_shared_key(
    served, api, stub_provider
):
    tenant = await new_tenant(api)
    key = await issue(api, tenant)
    async with sdk(served, key["key"]) as client:
        await client.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=HELLO, max_tokens=2)
    upstream = stub_provider.requests[-1]
    assert upstream["path"] == "/v1/chat/completions"
    assert upstream["authorization"] == "Bearer sk-valid-provider-key-0001"  # tests/conftest.py's shared key
    assert upstream["body"]["model"] == "claude-haiku-4-5"
