"""The gateway's pure parts: upstream URLs and headers per provider kind, the worst case, the request
checks, the body sent upstream, secret scrubbing, error statuses, the SSE relay and its settings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.fernet import Fernet

from portal.apikeys.entries import ModelEntry, OpenCredential, ProviderEntry, Target
from portal.apikeys.refusals import Refusal
from portal.catalog.prices import Prices
from portal.catalog.spec import builtin_specs, custom_provider_spec
from portal.config import ConfigError, load_settings
from portal.gateway.errors import GatewayError
from portal.gateway.metering import DEFAULT_OUTPUT_CAP, Usage, worst_case
from portal.gateway.parsing import parse_chat, parse_embeddings
from portal.gateway.scrub import REDACTED, Scrubber
from portal.gateway.service import _payload
from portal.gateway.streaming import Relay
from portal.gateway.upstream import CHAT, EMBEDDINGS, kind_of, output_cap_param, upstream_for

SECRET = 'sk-unit-secret-0001/with+odd"chars'


def credential(base_url: str | None = None, **config: str) -> OpenCredential:
    return OpenCredential("tenant", {"api_key": SECRET}, dict(config), base_url)


def target(max_output: int | None = 1000, prices: tuple[int, int] = (1_000_000, 2_000_000)) -> Target:
    spec = custom_provider_spec("acme", "Acme", "https://llm.example.com/v1")
    model = ModelEntry(uuid.uuid4(), "m", Prices(*prices, max_output))
    return Target(ProviderEntry(uuid.uuid4(), "acme", spec, spec.base_url, {"m": model}), model)


# ---------------------------------------------------------------- upstream URLs and headers


@pytest.mark.parametrize(
    ("kind", "base", "url"),
    [
        ("openai", "https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions"),
        ("anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com/v1/chat/completions"),
        (
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        ("custom", "https://llm.example.com/v1/", "https://llm.example.com/v1/chat/completions"),
    ],
)
def test_openai_compatible_kinds_take_bearer_at_their_chat_path(kind: str, base: str, url: str) -> None:
    upstream = upstream_for(kind, credential(base), CHAT)
    assert upstream.url == url and upstream.params == {}
    assert upstream.headers["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(upstream)


def test_every_builtin_provider_has_a_rule() -> None:
    for name, spec in builtin_specs().items():
        provider = ProviderEntry(uuid.uuid4(), name, spec, None, {})
        assert kind_of(provider) == name
    impostor = ProviderEntry(
        uuid.uuid4(), "azure", custom_provider_spec("azure", "x", "https://x.example"), None, {}
    )
    assert kind_of(impostor) == "custom"  # a custom provider named like a built-in one


def test_azure_uses_the_deployment_url_the_api_key_header_and_the_api_version() -> None:
    azure = credential(
        endpoint="https://r.openai.azure.com/", deployment_name="gpt-4o-prod", api_version="2024-10-21"
    )
    upstream = upstream_for("azure", azure, EMBEDDINGS)
    assert upstream.url == "https://r.openai.azure.com/openai/deployments/gpt-4o-prod/embeddings"
    assert upstream.params == {"api-version": "2024-10-21"}
    assert upstream.headers["api-key"] == SECRET and "authorization" not in upstream.headers
    with pytest.raises(GatewayError) as incomplete:
        upstream_for("azure", credential(endpoint="https://r.openai.azure.com"), CHAT)
    assert incomplete.value.status_code == 502


def test_a_provider_without_a_key_gets_no_auth_header_and_one_without_a_url_is_refused() -> None:
    keyless = OpenCredential(
        "tenant", {}, {"endpoint": "http://vllm.internal:8000/v1"}, "http://vllm.internal:8000/v1"
    )
    assert "authorization" not in upstream_for("vllm", keyless, CHAT).headers
    with pytest.raises(GatewayError):
        upstream_for("custom", credential(None), CHAT)


def test_the_output_cap_parameter_per_provider() -> None:
    assert output_cap_param("openai") == output_cap_param("azure") == "max_completion_tokens"
    assert output_cap_param("mistral") == output_cap_param("custom") == "max_tokens"


# ---------------------------------------------------------------- the worst case


def test_worst_case_counts_the_body_bytes_and_the_output_cap() -> None:
    prices = target().model.prices
    asked = worst_case(target(), 200, 50, 1, chat=True)
    assert (asked.input_tokens, asked.output_tokens, asked.cap_to_send) == (200, 50, None)
    assert asked.micros == prices.cost_micros(200, 50)
    # More than the model can answer is bounded by the model's maximum.
    assert worst_case(target(), 200, 10**9, 1, chat=True).output_tokens == 1000
    # Nothing asked: the model's maximum, sent upstream; without one, the documented default.
    assert worst_case(target(), 200, None, 1, chat=True).cap_to_send == 1000
    assert worst_case(target(None), 200, None, 1, chat=True).cap_to_send == DEFAULT_OUTPUT_CAP
    # n answers: n times the output.
    assert worst_case(target(), 200, 50, 3, chat=True).output_tokens == 150
    embeddings = worst_case(target(), 300, None, 1, chat=False)
    assert (embeddings.output_tokens, embeddings.cap_to_send) == (0, None)


def test_usage_is_read_only_when_it_holds_counts() -> None:
    assert Usage.of({"prompt_tokens": 3, "completion_tokens": 5}) == Usage(3, 5)
    assert Usage.of({"prompt_tokens": 3, "total_tokens": 3}) == Usage(3, 0)  # embeddings
    for bad in (None, [], {"prompt_tokens": -1}, {"prompt_tokens": True}, {"prompt_tokens": "3"}):
        assert Usage.of(bad) is None


# ---------------------------------------------------------------- requests and the body sent upstream


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"[1]", "body"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "m"}', "messages"),
        (b'{"model": "m", "messages": [1], "max_completion_tokens": -1}', "max_completion_tokens"),
        (b'{"model": "m", "messages": [1], "stream_options": true}', "stream_options"),
        (b'{"model": "m", "messages": [1], "n": 0}', "n"),
    ],
)
def test_bad_chat_requests_name_their_parameter(body: bytes, param: str) -> None:
    with pytest.raises(GatewayError) as refused:
        parse_chat(body)
    assert (refused.value.status_code, refused.value.param) == (400, param)


def test_chat_and_embedding_requests_parsed() -> None:
    chat = parse_chat(
        b'{"model": " a/b ", "messages": [1], "max_tokens": 30, "max_completion_tokens": 20, "stream": true,'
        b' "stream_options": {"include_usage": true}, "n": 2}'
    )
    assert (chat.model, chat.requested_cap, chat.stream, chat.client_wants_usage, chat.choices) == (
        "a/b",
        20,
        True,
        True,
        2,
    )
    assert parse_embeddings(b'{"model": "e", "input": [[1, 2], [3]]}').model == "e"
    with pytest.raises(GatewayError):
        parse_embeddings(b'{"model": "e", "input": [true]}')


def test_the_body_sent_upstream_names_the_providers_model_the_cap_and_asks_for_usage() -> None:
    parsed = parse_chat(b'{"model": "acme/m", "messages": [1], "stream": true, "stream_options": {"x": 1}}')
    sent = msgspec.json.decode(
        _payload(parsed, target(), "openai", worst_case(target(), 10, None, 1, chat=True))
    )
    assert sent["model"] == "m"
    assert sent["max_completion_tokens"] == 1000 and "max_tokens" not in sent
    assert sent["stream_options"] == {"x": 1, "include_usage": True}
    asked = parse_chat(b'{"model": "acme/m", "messages": [1], "max_tokens": 7}')
    sent = msgspec.json.decode(
        _payload(asked, target(), "mistral", worst_case(target(), 10, 7, 1, chat=True))
    )
    assert sent["max_tokens"] == 7 and "stream_options" not in sent


# ---------------------------------------------------------------- secrets and errors


def test_the_scrubber_removes_every_form_of_each_secret() -> None:
    scrub = Scrubber([SECRET, "short-sk-1234", ""])
    escaped = msgspec.json.encode({"echo": SECRET})
    assert SECRET.encode() not in scrub(SECRET.encode() + b" and " + escaped)
    assert scrub(escaped).count(REDACTED) == 1
    assert scrub.text("key short-sk-1234!") == f"key {REDACTED.decode()}!"
    assert scrub(b"nothing here") == b"nothing here"
    assert SECRET not in repr(scrub)


def test_gateway_statuses_for_the_service_api_refusals() -> None:
    assert GatewayError.of(Refusal("key_disabled")).status_code == 401
    assert GatewayError.of(Refusal("key_revoked")).status_code == 401
    assert GatewayError.of(Refusal("scope_missing")).status_code == 403
    assert GatewayError("limit_reached").status_code == 402
    body = msgspec.json.decode(GatewayError("limit_reached").body())
    assert body["error"]["type"] == "insufficient_quota" and body["error"]["code"] == "limit_reached"


# ---------------------------------------------------------------- the SSE relay


class FakeMeter:
    """Stands in for the ledger-backed Meter: records how the relay finished."""

    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent
        self.finished: list[tuple[int, Usage | None, bool, int]] = []

    async def finish(
        self, status: int, usage: Usage | None = None, *, charge_reservation: bool = False
    ) -> None:
        if not self.finished:
            self.finished.append((status, usage, charge_reservation, len(self.sent)))


def chunk(content: str) -> bytes:
    return b"data: " + msgspec.json.encode({"choices": [{"delta": {"content": content}}]}) + b"\r\n\r\n"


USAGE = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\n\n'


async def relay(pieces: list[bytes], *, wants_usage: bool) -> tuple[bytes, FakeMeter]:
    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    sent: list[bytes] = []
    meter = FakeMeter(sent)
    upstream = httpx.Response(200, content=stream())
    messages: list[Any] = []

    async def receive() -> dict[str, Any]:  # the client stays until the answer is complete
        await _forever()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        messages.append(message)
        if message["type"] == "http.response.body":
            sent.append(message["body"])

    answer = Relay(upstream, meter, Scrubber([SECRET]), client_wants_usage=wants_usage)  # type: ignore[arg-type]
    await answer({"type": "http"}, receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 200 and messages[-1] == {
        "type": "http.response.body",
        "body": b"",
        "more_body": False,
    }
    return b"".join(sent), meter


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_the_relay_forwards_events_split_anywhere_and_reads_the_usage() -> None:
    whole = chunk("one ") + chunk(f"two {SECRET}") + USAGE + b"data: [DONE]\n\n"
    pieces = [whole[i : i + 7] for i in range(0, len(whole), 7)]  # events cut mid-line
    out, meter = await relay(pieces, wants_usage=False)
    assert out.count(b"data: ") == 3  # two chunks and [DONE]; the usage chunk is the gateway's
    assert b'"usage"' not in out and SECRET.encode() not in out and REDACTED in out
    assert out.endswith(b"data: [DONE]\n\n")
    status, usage, _charge, sent_before = meter.finished[0]
    assert (status, usage) == (200, Usage(3, 2))
    assert not any(
        b"[DONE]" in piece for piece in meter.sent[:sent_before]
    )  # settled before the end went out


async def test_the_relay_passes_the_usage_chunk_when_asked_and_charges_a_stream_without_usage() -> None:
    out, _ = await relay([chunk("a"), USAGE, b"data: [DONE]\n\n"], wants_usage=True)
    assert b'"usage"' in out
    _, meter = await relay([chunk("a"), b"data: [DONE]\n\n"], wants_usage=False)
    assert meter.finished[0][:3] == (200, None, True)  # no usage: charged its reservation, estimated


# ---------------------------------------------------------------- settings


GOOD = {
    "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "SESSION_SECRET": "s" * 40,
    "API_KEY_SECRET": "k" * 40,
}


def test_gateway_timeouts_default_and_are_checked() -> None:
    settings = load_settings(GOOD)
    assert (settings.gateway_connect_timeout, settings.gateway_first_byte_timeout) == (5.0, 60.0)
    tuned = load_settings({**GOOD, "GATEWAY_CONNECT_TIMEOUT": "2.5", "GATEWAY_FIRST_BYTE_TIMEOUT": "300"})
    assert (tuned.gateway_connect_timeout, tuned.gateway_first_byte_timeout) == (2.5, 300.0)
    with pytest.raises(ConfigError) as bad:
        load_settings({**GOOD, "GATEWAY_CONNECT_TIMEOUT": "0", "GATEWAY_FIRST_BYTE_TIMEOUT": "soon"})
    assert [p.split(":")[0] for p in bad.value.problems] == [
        "GATEWAY_CONNECT_TIMEOUT",
        "GATEWAY_FIRST_BYTE_TIMEOUT",
    ]
