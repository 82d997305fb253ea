"""A stand-in LLM provider on loopback: model lists, chat completions (streamed or not) and embeddings.

Used by `portal demo` (so "Test connection" works offline) and by the tests. It accepts the keys it
was given, in whichever header the real provider uses (`Authorization: Bearer`, `x-api-key`,
`api-key`, `x-goog-api-key`), under any base path (`/v1`, `/v1beta/openai`, …):

- `GET …/models`: one model, `stub-model`.
- `POST …/chat/completions`: OpenAI's answer with `usage`; with `"stream": true` Server-Sent Events,
  one `data: {chunk}` per completion token, a last chunk with `usage` only when
  `stream_options.include_usage` is true, then `data: [DONE]`.
- `POST …/embeddings`: one small vector per input, with `usage`.
- Azure: `POST /openai/deployments/{deployment}/chat/completions?api-version=…` (and `/embeddings`)
  with the `api-key` header; `api-version` is required; the deployment is the model.

Token counts are deterministic so tests can predict cost: prompt tokens = the words (split on
whitespace) of every message's text (or of every embedding input), completion tokens =
min(`max_tokens` or `max_completion_tokens`, `Behaviour.completion_tokens`).

Knobs (`Behaviour`): per model with `stub.behave("model-name", chunk_delay_ms=50, …)` ("*" for every
model), or per request with the header `x-stub: chunk_delay_ms=50,no_usage=1`:

- `first_byte_delay_ms`: wait before anything is sent (timeout tests);
- `chunk_delay_ms` with `completion_tokens`: a slow stream; each stream is recorded in
  `stub.streams` (`StreamRecord`: chunks sent, completed, client_closed, an event set at its end);
- `error_status`: answer that status with an error body that echoes the presented key (for
  secret-scrubbing tests);
- `no_usage`: answers (and streams) carry no `usage`.

Every request is recorded in `stub.requests` as a dict: "method", "path" (with the query), "body"
(the parsed JSON, or the text, or None) and each header by its lower-case name.

Built not to be the bottleneck under load: HTTP/1.1 keep-alive (unless `keep_alive=False`), headers
and body in one write, TCP_NODELAY (else every keep-alive answer may wait 40 ms on a delayed ACK).
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field, fields, replace
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from portal.demo.serving import ThreadedServer

MODEL_PATHS = ("/models", "/v1/models", "/openai/models", "/v1beta/models")
EMBEDDING_SIZE = 8
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


@dataclass(frozen=True)
class Behaviour:
    completion_tokens: int = 8  # the answer's length when max_tokens allows it
    first_byte_delay_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    error_status: int | None = None
    no_usage: bool = False

    def updated(self, spec: str) -> Behaviour:
        """This behaviour with the `x-stub` header's settings ("name=value,name=value") applied."""
        known = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in known:
                raise ValueError(f"x-stub: unknown setting {name!r}")
            kind = str(known[name])
            if "bool" in kind:
                changes[name] = value.strip().lower() in ("1", "true", "yes", "")
            elif "float" in kind:
                changes[name] = float(value)
            else:
                changes[name] = int(value)
        return replace(self, **changes)


@dataclass
class StreamRecord:
    path: str
    model: str
    chunks_sent: int = 0
    completed: bool = False  # [DONE] was sent
    client_closed: bool = False  # the client went away before the end
    ended: threading.Event = field(default_factory=threading.Event)


def presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")


def words(value: Any) -> int:
    """The words of a message's content: a string, or a list of parts with "text"."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(part.get("text") if isinstance(part, dict) else part) for part in value)
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if isinstance(messages, list):
        return sum(words(m.get("content")) for m in messages if isinstance(m, dict))
    return words(body.get("input"))


def completion_tokens(body: dict[str, Any], behaviour: Behaviour) -> int:
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(asked, int) and not isinstance(asked, bool) and asked >= 0:
        return min(asked, behaviour.completion_tokens)
    return behaviour.completion_tokens


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class StubProvider(ThreadedServer):
    def __init__(
        self,
        accepted_keys: set[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keep_alive: bool = True,
    ) -> None:
        self.accepted_keys = accepted_keys
        self.requests: list[dict[str, Any]] = []
        self.streams: list[StreamRecord] = []
        self.behaviours: dict[str, Behaviour] = {}
        self._clock = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(_Handler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"
            provider = stub

        self._serve(Handler, host, port)

    def behave(self, model: str, **settings: Any) -> None:
        """Set how answers for `model` ("*": every model without its own) behave; see Behaviour."""
        self.behaviours[model] = Behaviour(**settings)

    def behaviour_for(self, model: str, header: str | None) -> Behaviour:
        behaviour = self.behaviours.get(model) or self.behaviours.get("*") or Behaviour()
        return behaviour.updated(header) if header else behaviour

    def next_id(self) -> str:
        with self._lock:
            self._clock += 1
            return f"stub-{self._clock}"


class _Handler(BaseHTTPRequestHandler):
    provider: StubProvider
    disable_nagle_algorithm = True  # TCP_NODELAY
    server_version = "stub-provider"
    sys_version = ""

    # ------------------------------------------------------------------ plumbing

    def _record(self, body: Any) -> dict[str, str]:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.provider.requests.append({"method": self.command, "path": self.path, "body": body, **headers})
        return headers

    def _head(self, status: int, content_type: str, framing: str) -> bytes:
        close = "connection: close\r\n" if self.close_connection else ""
        return (
            f"{self.protocol_version} {status} {REASONS.get(status, 'Error')}\r\n"
            f"content-type: {content_type}\r\n{framing}{close}\r\n"
        ).encode()

    def _raw(self, status: int, content_type: str, payload: bytes) -> None:
        """Status line, headers and body in one write."""
        self.wfile.write(self._head(status, content_type, f"content-length: {len(payload)}\r\n") + payload)

    def _answer(self, status: int, body: object) -> None:
        self._raw(status, "application/json", json.dumps(body).encode())

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        self._answer(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    # ------------------------------------------------------------------ GET: model lists

    def do_GET(self) -> None:
        headers = self._record(None)
        if not urlsplit(self.path).path.endswith(MODEL_PATHS):
            return self._answer(404, {"error": "not found"})
        if presented_key(headers) not in self.provider.accepted_keys:
            return self._answer(401, {"error": {"message": "invalid api key"}})
        return self._answer(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    # ------------------------------------------------------------------ POST: inference

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        headers = self._record(body)
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        kind = "chat" if path.endswith("/chat/completions") else "embeddings"
        if not path.endswith(("/chat/completions", "/embeddings")):
            return self._error(404, f"no route {path}")
        deployment = _azure_deployment(path)
        if deployment is not None and "api-version" not in query:
            return self._error(400, "api-version is required", "missing_api_version")
        key = presented_key(headers)
        if key not in self.provider.accepted_keys:
            return self._error(401, "Incorrect API key provided", "invalid_api_key")
        if not isinstance(body, dict):
            return self._error(400, "the body must be a JSON object")
        model = deployment or body.get("model")
        if not isinstance(model, str) or not model:
            return self._error(400, "model is required", "missing_model")
        try:
            behaviour = self.provider.behaviour_for(model, headers.get("x-stub"))
        except ValueError as exc:
            return self._error(400, str(exc))
        if behaviour.first_byte_delay_ms:
            time.sleep(behaviour.first_byte_delay_ms / 1000)
        if behaviour.error_status is not None:
            return self._error(behaviour.error_status, f"upstream refused the request made with key {key}")
        if kind == "embeddings":
            return self._embeddings(model, body, behaviour)
        if body.get("stream") is True:
            return self._stream(path, model, body, behaviour)
        return self._chat(model, body, behaviour)

    def _chat(self, model: str, body: dict[str, Any], behaviour: Behaviour) -> None:
        completion = completion_tokens(body, behaviour)
        answer: dict[str, Any] = {
            "id": self.provider.next_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " ".join(["tok"] * completion)},
                    "finish_reason": "length" if completion < behaviour.completion_tokens else "stop",
                }
            ],
        }
        if not behaviour.no_usage:
            answer["usage"] = usage(prompt_tokens(body), completion)
        self._answer(200, answer)

    def _embeddings(self, model: str, body: dict[str, Any], behaviour: Behaviour) -> None:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": [round(0.1 * (i + j + 1), 3) for j in range(EMBEDDING_SIZE)],
            }
            for i in range(len(items))
        ]
        answer: dict[str, Any] = {"object": "list", "data": data, "model": model}
        if not behaviour.no_usage:
            answer["usage"] = {"prompt_tokens": prompt_tokens(body), "total_tokens": prompt_tokens(body)}
        self._answer(200, answer)

    def _stream(self, path: str, model: str, body: dict[str, Any], behaviour: Behaviour) -> None:
        record = StreamRecord(path, model)
        self.provider.streams.append(record)
        completion = completion_tokens(body, behaviour)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        base = {
            "id": self.provider.next_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
            event = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return b"data: " + json.dumps(event).encode() + b"\n\n"

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": "tok "}) for _ in range(completion)]
        events.append(chunk({}, "length" if completion < behaviour.completion_tokens else "stop"))
        if include_usage and not behaviour.no_usage:
            final = {**base, "choices": [], "usage": usage(prompt_tokens(body), completion)}
            events.append(b"data: " + json.dumps(final).encode() + b"\n\n")
        events.append(b"data: [DONE]\n\n")
        try:
            self._send_events(record, events, behaviour.chunk_delay_ms / 1000)
        except (BrokenPipeError, ConnectionResetError):
            record.client_closed = True
            self.close_connection = True
        finally:
            record.ended.set()

    def _send_events(self, record: StreamRecord, events: list[bytes], delay: float) -> None:
        """The events as HTTP/1.1 chunks (the connection stays open), or until EOF on HTTP/1.0."""
        chunked = not self.close_connection
        head = self._head(200, "text/event-stream", "transfer-encoding: chunked\r\n" if chunked else "")

        def framed(data: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

        end = b"0\r\n\r\n" if chunked else b""
        if not delay:  # everything in one write
            self.wfile.write(head + b"".join(framed(e) for e in events) + end)
            record.chunks_sent, record.completed = len(events), True
            return
        self.wfile.write(head)
        for event in events:
            if self._client_gone(delay):
                record.client_closed = True
                self.close_connection = True
                return
            self.wfile.write(framed(event))
            record.chunks_sent += 1
        self.wfile.write(end)
        record.completed = True

    def _client_gone(self, wait: float) -> bool:
        """Wait `wait` seconds; True as soon as the client has closed its end."""
        readable, _, _ = select.select([self.connection], [], [], wait)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _azure_deployment(path: str) -> str | None:
    parts = path.split("/")
    if "deployments" in parts:
        index = parts.index("deployments")
        if index + 1 < len(parts) and parts[index - 1 : index] == ["openai"]:
            return parts[index + 1]
    return None
