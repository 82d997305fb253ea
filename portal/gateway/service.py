"""The gateway's use case: one request from an issued key to the tenant's provider and back, with its
budget reserved before and settled after (portal.gateway.metering), its rate limits checked, and
the provider's secret kept out of everything the client or a log line sees."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import msgspec
from litestar.types import ASGIApp, Receive

from portal.apikeys.entries import Caller, Target
from portal.apikeys.hotpath import HotPath
from portal.apikeys.service_api import JSONNoStore
from portal.budgets.ledger import Ledger
from portal.config import Settings
from portal.gateway.disconnect import ClientGone, unless_gone
from portal.gateway.errors import GatewayError
from portal.gateway.exchange import CONNECT_TIMEOUTS, TIMEOUTS, TRANSPORT_ERRORS, Answer, Exchanger
from portal.gateway.metering import (
    CLIENT_CLOSED,
    EventSink,
    Meter,
    Usage,
    WorstCase,
    budgets_of,
    refuse_unpriced,
    reserve,
    worst_case,
)
from portal.gateway.naming import find_target, usable_models
from portal.gateway.parsing import Parsed
from portal.gateway.rate_limits import RateLimits
from portal.gateway.scrub import Scrubber
from portal.gateway.streaming import Relay
from portal.gateway.upstream import CHAT, EMBEDDINGS, Upstream, kind_of, output_cap_param, upstream_for
from portal.net.egress import EgressRefused

log = logging.getLogger("portal.gateway")

BYTES_PER_TOKEN = 4  # a rough average, for the tokens-per-minute estimate only
MESSAGE_MAX = 500  # of a provider's error message passed on
PASSED_ON = {400: 400, 404: 404, 413: 400, 422: 400, 429: 429}  # the provider's status -> ours; else 502


@dataclass
class Gateway:
    settings: Settings
    hotpath: HotPath
    pool: httpcore.AsyncConnectionPool  # the gateway's own pool, behind the egress policy
    ledger: Ledger
    sink: EventSink
    limits: RateLimits

    def __post_init__(self) -> None:
        connect = self.settings.gateway_connect_timeout
        first_byte = self.settings.gateway_first_byte_timeout
        self.timeout = httpx.Timeout(connect=connect, read=first_byte, write=first_byte, pool=connect)
        self.exchanger = Exchanger(self.pool, self.timeout)

    async def stop(self) -> None:
        await self.pool.aclose()
        await self.limits.close()

    async def models(self, caller: Caller) -> bytes:
        """OpenAI's model list: what this key may call now."""
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": name.split("/", 1)[0]}
            for name in await usable_models(self.hotpath, caller)
        ]
        return msgspec.json.encode({"object": "list", "data": data})

    async def call(self, caller: Caller, parsed: Parsed, size: int, receive: Receive) -> ASGIApp:
        """Forward one chat or embeddings request; the answer (a relay for a stream) or a GatewayError."""
        target = await find_target(self.hotpath, caller, parsed.model)
        refuse_unpriced(caller, target)
        credential = self.hotpath.credential(caller, target.provider)
        kind = kind_of(target.provider)
        upstream = upstream_for(kind, credential, CHAT if parsed.chat else EMBEDDINGS)
        now = self.hotpath.clock()
        meter = Meter(self.ledger, self.sink, self.limits, caller, target, streamed=parsed.stream, now=now)
        worst = worst_case(target, size, parsed.requested_cap, parsed.choices, chat=parsed.chat)
        try:
            await self._admit(caller, size)
            meter.reservation = await reserve(self.ledger, budgets_of(caller, now), worst.micros)
        except GatewayError as refused:
            await meter.finish(refused.status_code)
            raise
        scrub = Scrubber(credential.secrets.values())
        payload = _payload(parsed, target, kind, worst)
        return await self._forward(upstream, payload, parsed, target, meter, scrub, receive)

    async def _admit(self, caller: Caller, size: int) -> None:
        """The key's requests and tokens per minute: 429 with Retry-After when this one does not fit.
        The prompt's tokens are estimated at four bytes each (the budget's worst case counts one)."""
        wait = await self.limits.admit(caller.key)
        wait = wait or await self.limits.admit_tokens(caller.key, size // BYTES_PER_TOKEN)
        if wait is not None:
            seconds = str(int(wait))
            raise GatewayError(
                "rate_limited",
                f"this API key's requests or tokens per minute are used up: retry after {seconds} s",
                headers={"Retry-After": seconds},
            )

    async def _forward(
        self,
        upstream: Upstream,
        payload: bytes,
        parsed: Parsed,
        target: Target,
        meter: Meter,
        scrub: Scrubber,
        receive: Receive,
    ) -> ASGIApp:
        """Send, and answer; the meter is finished here unless a stream's relay takes it over."""
        response: Answer | None = None
        try:
            answer, content = await unless_gone(receive, self._exchange(upstream, payload, parsed.stream))
            response = answer
            if answer.status_code >= 300:
                failure = _upstream_failure(target, answer, content or b"", scrub)
                if failure.status_code >= 500:
                    log.warning(
                        "gateway: %s (%s/%s)", failure.message, target.provider.name, target.model.name
                    )
                raise failure
            if content is None:
                relay = Relay(answer, meter, scrub, client_wants_usage=parsed.client_wants_usage)
                response = None  # the relay owns it now
                return relay
        except ClientGone:
            await meter.finish(CLIENT_CLOSED, charge_reservation=True)
            return JSONNoStore(b"", status=CLIENT_CLOSED)
        except GatewayError as failed:
            await meter.finish(failed.status_code)
            raise
        except BaseException:
            await meter.finish(500)
            raise
        finally:
            if response is not None:
                await response.aclose()
        usage = _usage_of(content)
        await meter.finish(200, usage, charge_reservation=usage is None)
        return JSONNoStore(scrub(content))

    async def _exchange(
        self, upstream: Upstream, payload: bytes, stream: bool
    ) -> tuple[Answer, bytes | None]:
        """The provider's response and its body read whole, or None for the body of a stream to relay.
        One task for both, cancelled as one when the client goes away (the response is then closed)."""
        response = await self._send(upstream, payload)
        if stream and response.status_code < 300 and _is_event_stream(response):
            return response, None
        try:
            return response, await self._read(response, upstream)
        finally:
            await response.aclose()

    async def _send(self, upstream: Upstream, payload: bytes) -> Answer:
        try:
            return await self.exchanger.post(upstream.url, upstream.params, upstream.headers, payload)
        except TRANSPORT_ERRORS as exc:
            raise _transport_failure(exc, upstream, self.timeout) from None

    async def _read(self, response: Answer, upstream: Upstream) -> bytes:
        try:
            return await response.aread()
        except TRANSPORT_ERRORS as exc:
            raise _transport_failure(exc, upstream, self.timeout) from None


def _payload(parsed: Parsed, target: Target, kind: str, worst: WorstCase) -> bytes:
    """The body sent upstream: the provider's model name, the reserved output cap, usage in streams."""
    body = dict(parsed.body)
    body["model"] = target.model.name
    if worst.cap_to_send is not None:
        body[output_cap_param(kind)] = worst.cap_to_send
    if parsed.stream:
        body["stream_options"] = {**(parsed.body.get("stream_options") or {}), "include_usage": True}
    return msgspec.json.encode(body)


def _is_event_stream(response: Answer) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


def _usage_of(content: bytes) -> Usage | None:
    try:
        answer: Any = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return None
    return Usage.of(answer.get("usage")) if isinstance(answer, dict) else None


def _transport_failure(exc: Exception, upstream: Upstream, timeout: httpx.Timeout) -> GatewayError:
    """Why the provider could not be reached, naming its host and never a secret."""
    host = httpx.URL(upstream.url).host
    if isinstance(exc, CONNECT_TIMEOUTS):
        return GatewayError("upstream_timeout", f"could not connect to {host} within {timeout.connect:g} s")
    if isinstance(exc, TIMEOUTS):
        return GatewayError("upstream_timeout", f"{host} sent nothing for {timeout.read:g} s")
    if isinstance(exc, EgressRefused):
        return GatewayError("upstream_error", str(exc))
    return GatewayError("upstream_error", f"could not reach {host}: {type(exc).__name__}")


def _upstream_failure(target: Target, response: Answer, content: bytes, scrub: Scrubber) -> GatewayError:
    """The provider's refusal passed on in the gateway's shape, its status mapped, its secrets removed."""
    status = response.status_code
    message, param = _error_message(content)
    text = scrub.text(f"{target.provider.name} answered HTTP {status}" + (f": {message}" if message else ""))
    mapped = PASSED_ON.get(status, 502)
    headers = {}
    retry_after = response.headers.get("retry-after", "")
    if mapped == 429 and retry_after.isdigit():
        headers["Retry-After"] = retry_after
    code = "rate_limited" if mapped == 429 else "upstream_error"
    return GatewayError(code, text, status=mapped, param=param and scrub.text(param), headers=headers)


def _error_message(content: bytes) -> tuple[str, str | None]:
    """The message (shortened) and param of a provider's error body, in OpenAI's shape or not."""
    try:
        body: Any = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return content[:MESSAGE_MAX].decode("utf-8", "replace").strip(), None
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        message, param = error.get("message"), error.get("param")
        return (str(message)[:MESSAGE_MAX] if message else ""), (param if isinstance(param, str) else None)
    return str(error)[:MESSAGE_MAX], None
