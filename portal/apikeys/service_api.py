"""The service API: tenants' backends resolve credentials with an issued key (usage: portal.usage).

`Authorization: Bearer <issued key>` binds the request to the key's tenant (the middleware found the
key by its hash); a guard checks the key's scope. Every answer carries `Cache-Control: no-store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.types import ASGIApp, Receive, Scope, Send

from portal.apikeys.hotpath import Caller, HotPath
from portal.apikeys.refusals import Refusal
from portal.apikeys.schemas import ResolveIn
from portal.web.auth import auth_state
from portal.web.errors import SERVICE_API
from portal.web.guards import requires_service_key
from portal.web.openapi import service_errors

MAX_BODY = 16_384


async def read_body(request: Request[Any, Any, Any], limit: int = MAX_BODY) -> bytes:
    """The request body straight from the ASGI messages (Request.body() costs a tenth of a resolve)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":
            raise Refusal("invalid_request", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal("invalid_request", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def caller_of(request: Request[Any, Any, Any]) -> Caller:
    caller = auth_state(request).service
    if caller is None:  # the guard ran first; this is only a safety net
        raise Refusal("missing_key")
    return caller


class JSONNoStore:
    """A JSON answer (200 unless told), never cached: sent as is (the resolve hot path's answer)."""

    __slots__ = ("body", "status")

    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body = body
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


@dataclass
class ResolveOperation(Operation):
    """The resolve body is decoded by the handler itself (the hot path): documented here instead."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        self.request_body = RequestBody(
            required=True,
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["provider", "model"],
                        properties={"provider": text, "model": text},
                        examples=[{"provider": "openai", "model": "gpt-4o"}],
                    )
                )
            },
        )


class ServiceController(Controller):
    """A controller of the service API (/api/v1, for issued keys): its errors in that API's JSON shape
    (portal.web.errors)."""

    path = "/api/v1"
    tags = ["service"]
    opt = {SERVICE_API: True}


class ServiceApi(ServiceController):
    @post(
        "/resolve",
        guards=[requires_service_key("resolve")],
        status_code=200,
        summary="The effective credential for a provider and model",
        description="Bearer issued key with the `resolve` scope. Answers the secret fields, the non-secret "
        "config, the base URL and whether the credential is the tenant's own or shared. Refusals carry a "
        "JSON `code` (see the README).",
        operation_class=ResolveOperation,
        responses=service_errors(400, 401, 403, 404, 409, 429),
    )
    async def resolve(self, request: Request[Any, Any, Any]) -> ASGIApp:
        # The hot path: the body decoded and the answer encoded here, without Litestar's generic
        # parameter and response machinery (about a sixth of the request's cost otherwise).
        hotpath: HotPath = request.app.state.hotpath
        try:
            data = msgspec.json.decode(await read_body(request), type=ResolveIn)
        except msgspec.DecodeError as exc:
            raise Refusal("invalid_request", str(exc)) from None
        answer = await hotpath.resolve(caller_of(request), data.provider.strip().lower(), data.model.strip())
        return JSONNoStore(msgspec.json.encode(answer))
