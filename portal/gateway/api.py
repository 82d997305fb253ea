"""The OpenAI-compatible routes: `POST /v1/chat/completions` (streamed or not), `POST /v1/embeddings`,
`GET /v1/models`, for issued keys with the `inference` scope.

Like the resolve API, these read the body straight from ASGI and answer with a prepared ASGI
response (no Litestar parameter or response machinery on the hot path); errors are OpenAI's shape
(portal.gateway.errors, answered by portal.web.errors for routes with the GATEWAY_API option).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.types import ASGIApp

from portal.apikeys.service_api import JSONNoStore, caller_of, read_body
from portal.gateway.openapi import GATEWAY_API, gateway_errors
from portal.gateway.parsing import parse_chat, parse_embeddings
from portal.gateway.service import Gateway
from portal.web.guards import requires_service_key

MAX_BODY = 16 * 1024 * 1024  # images travel inline (base64) in chat messages

_TEXT = Schema(type=OpenAPIType.STRING)
_OBJECT = Schema(type=OpenAPIType.OBJECT)
_COUNT = Schema(type=OpenAPIType.INTEGER, minimum=1)


def _request(
    required: list[str], properties: dict[str, Schema | Reference], example: dict[str, Any]
) -> RequestBody:
    schema = Schema(type=OpenAPIType.OBJECT, required=required, properties=properties, examples=[example])
    return RequestBody(required=True, content={"application/json": OpenAPIMediaType(schema=schema)})


def _answer(description: str, *, stream: bool = False) -> dict[str, OpenAPIResponse]:
    content = {"application/json": OpenAPIMediaType(schema=_OBJECT)}
    if stream:
        content["text/event-stream"] = OpenAPIMediaType(schema=_TEXT)
    return {"200": OpenAPIResponse(description=description, content=content)}


@dataclass
class ChatOperation(Operation):
    """The body is decoded by the handler itself: documented here instead."""

    def __post_init__(self) -> None:
        message = Schema(
            type=OpenAPIType.OBJECT,
            required=["role", "content"],
            properties={"role": _TEXT, "content": _TEXT},
        )
        self.request_body = _request(
            ["model", "messages"],
            {
                "model": _TEXT,
                "messages": Schema(type=OpenAPIType.ARRAY, items=message, min_items=1),
                "stream": Schema(type=OpenAPIType.BOOLEAN),
                "max_tokens": _COUNT,
                "max_completion_tokens": _COUNT,
                "n": Schema(type=OpenAPIType.INTEGER, minimum=1, maximum=128),
            },
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]},
        )
        self.responses = {
            **_answer(
                "OpenAI's chat completion, or its server-sent events when `stream` is true", stream=True
            ),
            **(self.responses or {}),
        }


@dataclass
class EmbeddingsOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = _request(
            ["model", "input"],
            {
                "model": _TEXT,
                "input": Schema(
                    one_of=[
                        Schema(type=OpenAPIType.STRING, min_length=1),
                        Schema(type=OpenAPIType.ARRAY, items=_TEXT, min_items=1),
                    ]
                ),
            },
            {"model": "openai/text-embedding-3-small", "input": "Hello"},
        )
        self.responses = {**_answer("OpenAI's embeddings answer"), **(self.responses or {})}


@dataclass
class ModelsOperation(Operation):
    def __post_init__(self) -> None:
        self.responses = {
            **_answer("OpenAI's model list: `id` is provider/model, for every model this key may call"),
            **(self.responses or {}),
        }


def _gateway(request: Request[Any, Any, Any]) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


class GatewayApi(Controller):
    path = "/v1"
    tags = ["gateway"]
    opt = {GATEWAY_API: True}
    guards = [requires_service_key("inference")]

    @post(
        "/chat/completions",
        status_code=200,
        summary="Chat through the tenant's provider (OpenAI-compatible)",
        description="Bearer issued key with the `inference` scope. `model` is provider/model (or a bare "
        "model name one provider of the key has). The worst case is reserved against the key's and the "
        "tenant's spend limits first (402 when it does not fit), settled to the reported usage after.",
        operation_class=ChatOperation,
        responses=gateway_errors(400, 401, 402, 403, 404, 409, 429, 502, 504),
    )
    async def chat_completions(self, request: Request[Any, Any, Any]) -> ASGIApp:
        raw = await read_body(request, MAX_BODY)
        return await _gateway(request).call(caller_of(request), parse_chat(raw), len(raw), request.receive)

    @post(
        "/embeddings",
        status_code=200,
        summary="Embeddings through the tenant's provider (OpenAI-compatible)",
        description="Bearer issued key with the `inference` scope; metered and limited as chat is.",
        operation_class=EmbeddingsOperation,
        responses=gateway_errors(400, 401, 402, 403, 404, 409, 429, 502, 504),
    )
    async def embeddings(self, request: Request[Any, Any, Any]) -> ASGIApp:
        raw = await read_body(request, MAX_BODY)
        return await _gateway(request).call(
            caller_of(request), parse_embeddings(raw), len(raw), request.receive
        )

    @get(
        "/models",
        summary="The models this key may call (OpenAI's list shape)",
        description="Bearer issued key with the `inference` scope. Each `id` is provider/model: allowed by "
        "the key, enabled by the tenant, and with a credential that applies.",
        operation_class=ModelsOperation,
        responses=gateway_errors(401, 403, 429),
    )
    async def models(self, request: Request[Any, Any, Any]) -> ASGIApp:
        return JSONNoStore(await _gateway(request).models(caller_of(request)))
