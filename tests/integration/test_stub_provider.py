"""The stub provider the gateway's tests and the demo call: OpenAI's shapes, predictable usage, knobs."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from portal.demo.stub_provider import StubProvider

KEY = "sk-stub-test-key-000000001"
PROMPT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say three words"}]


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    provider = StubProvider({KEY}).start()
    yield provider
    provider.stop()


@pytest.fixture
def client(stub: StubProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{stub.url}/v1", api_key=KEY, max_retries=0) as sdk:
        yield sdk


def sse_events(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_chat_answers_with_predictable_usage(client: openai.OpenAI, stub: StubProvider) -> None:
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, max_tokens=5)  # type: ignore[arg-type]
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        5,
        5,
        10,
    )
    assert answer.choices[0].message.content == "tok tok tok tok tok"
    unlimited = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)  # type: ignore[arg-type]
    assert unlimited.usage is not None and unlimited.usage.completion_tokens == 8
    seen = stub.requests[-1]
    assert (seen["method"], seen["path"], seen["authorization"]) == (
        "POST",
        "/v1/chat/completions",
        f"Bearer {KEY}",
    )
    assert seen["body"]["messages"] == PROMPT


def test_stream_sends_usage_only_when_asked(client: openai.OpenAI, stub: StubProvider) -> None:
    with_usage = list(
        client.chat.completions.create(
            model="m",
            messages=PROMPT,  # type: ignore[arg-type]
            max_tokens=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in with_usage if c.choices)
    assert text == "tok tok tok "
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert (with_usage[-1].usage.prompt_tokens, with_usage[-1].usage.completion_tokens) == (5, 3)
    without = list(client.chat.completions.create(model="m", messages=PROMPT, stream=True))  # type: ignore[arg-type]
    assert all(c.usage is None for c in without)
    assert stub.streams[-1].ended.wait(5)  # the stub's thread finishes the record after the last byte
    assert stub.streams[-1].completed and not stub.streams[-1].client_closed


def test_stream_ends_with_done_on_the_wire(stub: StubProvider) -> None:
    body = {"model": "m", "messages": PROMPT, "stream": True, "stream_options": {"include_usage": True}}
    response = httpx.post(f"{stub.url}/v1beta/openai/chat/completions", json=body, headers={"x-api-key": KEY})
    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"] == {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}
    assert len(events) == 1 + 8 + 1 + 1 + 1  # role, tokens, finish, usage, [DONE]


def test_embeddings_with_usage(client: openai.OpenAI) -> None:
    answer = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])
    assert [e.index for e in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) == 8
    assert (answer.usage.prompt_tokens, answer.usage.total_tokens) == (3, 3)


def test_azure_deployment_form(stub: StubProvider) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=stub.url,
        api_key=KEY,
        api_version="2024-10-21",
        azure_deployment="prod-4o",
        max_retries=0,
    )
    answer = azure.chat.completions.create(model="ignored", messages=PROMPT, max_tokens=2)  # type: ignore[arg-type]
    assert answer.model == "prod-4o" and answer.usage is not None and answer.usage.completion_tokens == 2
    seen = stub.requests[-1]
    assert seen["path"] == "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    assert seen["api-key"] == KEY
    missing = httpx.post(
        f"{stub.url}/openai/deployments/prod-4o/chat/completions",
        json={"messages": PROMPT},
        headers={"api-key": KEY},
    )
    assert missing.status_code == 400 and "api-version" in missing.text


def test_a_wrong_key_is_refused(stub: StubProvider) -> None:
    with openai.OpenAI(base_url=f"{stub.url}/v1", api_key="sk-wrong", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError):
            sdk.chat.completions.create(model="m", messages=PROMPT)  # type: ignore[arg-type]
        with pytest.raises(openai.AuthenticationError):
            sdk.embeddings.create(model="m", input="x")


def test_error_status_echoes_the_presented_key(stub: StubProvider, client: openai.OpenAI) -> None:
    stub.behave("broken", error_status=500)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="broken", messages=PROMPT)  # type: ignore[arg-type]
    assert KEY in raised.value.response.text  # what a careless gateway would pass on
    by_header = httpx.post(
        f"{stub.url}/v1/chat/completions",
        json={"model": "m", "messages": PROMPT},
        headers={"authorization": f"Bearer {KEY}", "x-stub": "error_status=429"},
    )
    assert by_header.status_code == 429 and KEY in by_header.text


def test_answers_without_usage(stub: StubProvider, client: openai.OpenAI) -> None:
    stub.behave("*", no_usage=True)
    assert client.chat.completions.create(model="any", messages=PROMPT).usage is None  # type: ignore[arg-type]
    chunks = list(
        client.chat.completions.create(
            model="any",
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks and all(c.usage is None for c in chunks)
    assert "usage" not in client.embeddings.create(model="any", input="a b").model_dump(exclude_none=True)


def test_delay_before_the_first_byte(stub: StubProvider) -> None:
    stub.behave("slow-start", first_byte_delay_ms=1000)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{stub.url}/v1/chat/completions",
            json={"model": "slow-start", "messages": PROMPT},
            headers={"authorization": f"Bearer {KEY}"},
            timeout=httpx.Timeout(5, read=0.1),
        )


def test_a_client_closing_mid_stream_is_recorded(stub: StubProvider) -> None:
    stub.behave("slow", chunk_delay_ms=20, completion_tokens=500)
    body = {"model": "slow", "messages": PROMPT, "stream": True}
    with (
        httpx.Client() as http,
        http.stream(
            "POST", f"{stub.url}/v1/chat/completions", json=body, headers={"api-key": KEY}
        ) as response,
    ):
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
    record = stub.streams[-1]
    assert record.ended.wait(5)
    assert record.client_closed and not record.completed
    assert 0 < record.chunks_sent < 100


def test_bad_knob_is_a_clear_error(stub: StubProvider) -> None:
    answer = httpx.post(
        f"{stub.url}/v1/chat/completions",
        json={"model": "m", "messages": PROMPT},
        headers={"authorization": f"Bearer {KEY}", "x-stub": "warp_speed=9"},
    )
    assert answer.status_code == 400 and "warp_speed" in answer.text


def test_keep_alive_answers_without_delayed_ack_waits(stub: StubProvider) -> None:
    """One connection, sequential requests: each answer is one write (no 40 ms delayed-ACK stall)."""
    body = json.dumps({"model": "m", "messages": PROMPT}).encode()
    request = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: stub\r\nauthorization: Bearer {KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    host, port = stub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for _ in range(20):
            sock.sendall(request)
            assert b'"total_tokens": 13' in _read_response(sock)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.4, f"20 keep-alive requests took {elapsed:.3f} s"


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    assert b"connection: close" not in head.lower()
    return rest
