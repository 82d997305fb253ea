"""The OpenAI-compatible gateway, driven by the official `openai` SDK against a served portal whose
upstream is the stub provider on loopback: chat, streams, embeddings, models, names, metering.

Runs on SQLite and on PostgreSQL. Costs are checked against the stub's deterministic usage
(prompt tokens = words of the messages; completion tokens = min(max_tokens, the stub's length))."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import openai
import pytest
from litestar import Litestar

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
    stub_tenant,
)
from tests.support import CANARY

PRICES = Prices(INPUT_PRICE, OUTPUT_PRICE)
HELLO = [{"role": "user", "content": "one two three"}]  # three prompt tokens at the stub


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
