"""A streamed answer relayed event by event, its usage read on the way.

The upstream request asked for `stream_options.include_usage`, so the provider's last chunk
carries `usage` (with empty `choices`); that chunk is passed on only if the client asked for it
too. Each complete server-sent event is scrubbed of the credential's secrets and forwarded at
once. The reservation settles before `data: [DONE]` goes out, so a client that sends its next
request on seeing the end finds its budget already settled. A client that goes away stops the
relay and closes the upstream connection at once; the request is then charged its reservation
(the provider has generated an unknown part of the answer) and marked estimated.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from litestar.types import Receive, Scope, Send

from portal.gateway.disconnect import until_disconnect
from portal.gateway.errors import GatewayError
from portal.gateway.exchange import TIMEOUTS, TRANSPORT_ERRORS, Answer
from portal.gateway.metering import CLIENT_CLOSED, Meter, Usage
from portal.gateway.scrub import Scrubber

DONE = b"[DONE]"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


def _data(event: bytes) -> bytes:
    """The data of one event (its `data:` lines joined), without the field name."""
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines)


class Relay:
    """The ASGI answer of a streamed request: owns the upstream response and the meter from here on."""

    def __init__(self, upstream: Answer, meter: Meter, scrub: Scrubber, *, client_wants_usage: bool) -> None:
        self.upstream = upstream
        self.meter = meter
        self.scrub = scrub
        self.client_wants_usage = client_wants_usage
        self.usage: Usage | None = None
        self.sent = False  # any event reached the client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 200
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            relay = asyncio.ensure_future(self._relay(send))
            gone = asyncio.ensure_future(until_disconnect(receive))
            await asyncio.wait((relay, gone), return_when=asyncio.FIRST_COMPLETED)
            if not relay.done():
                status = CLIENT_CLOSED
                relay.cancel()
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone
            with contextlib.suppress(asyncio.CancelledError):
                status = await relay or status
        except OSError:  # the server could not write to a client that went away
            status = CLIENT_CLOSED
        finally:
            await self.upstream.aclose()
            await self._finish(status)
        if status != CLIENT_CLOSED:
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _finish(self, status: int) -> None:
        if status == 200 and self.usage is not None:
            await self.meter.finish(200, self.usage)
        else:
            await self.meter.finish(status, self.usage, charge_reservation=self.sent or status == 200)

    async def _relay(self, send: Send) -> int:
        """Forward every event; 200, or 502 after telling the client in an error event."""
        buffer = b""
        try:
            async for chunk in self.upstream.aiter_bytes():
                buffer = (buffer + chunk).replace(b"\r\n", b"\n")
                *events, buffer = buffer.split(b"\n\n")
                out = [await self._event(event) for event in events if event.strip()]
                if any(out):
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
                    self.sent = True
        except TRANSPORT_ERRORS as exc:
            error = GatewayError(
                "upstream_timeout" if isinstance(exc, TIMEOUTS) else "upstream_error",
                f"the provider's stream broke off: {type(exc).__name__}",
            )
            await send(
                {"type": "http.response.body", "body": b"data: " + error.body() + b"\n\n", "more_body": True}
            )
            return error.status_code
        if buffer.strip():
            tail = await self._event(buffer)
            if tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})
        return 200

    async def _event(self, event: bytes) -> bytes:
        """The bytes to forward for one upstream event (b"" to drop it)."""
        data = _data(event)
        if data == DONE:
            await self._finish(200)  # settled before the client sees the end
            return event + b"\n\n"
        if b'"usage"' in data:
            chunk = _decoded(data)
            found = Usage.of(chunk.get("usage"))
            if found is not None:
                self.usage = found
                if not self.client_wants_usage and not chunk.get("choices"):
                    return b""  # the chunk the gateway asked for, not the client
        return self.scrub(event + b"\n\n")


def _decoded(data: bytes) -> dict[str, Any]:
    try:
        chunk = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return {}
    return chunk if isinstance(chunk, dict) else {}
