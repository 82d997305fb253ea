"""The gateway's refusals in the OpenAPI document: OpenAI's error shape, one description per status
listing its codes."""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from portal.apikeys.refusals import REFUSALS
from portal.gateway.errors import GATEWAY_API, GATEWAY_CODES, STATUS_ON_GATEWAY

__all__ = ["GATEWAY_API", "gateway_errors"]


class OpenAIError(msgspec.Struct):
    message: str
    type: str
    code: str | None
    param: str | None


class OpenAIErrorBody(msgspec.Struct):
    """A refusal or failure of the gateway, as OpenAI's API sends them."""

    error: OpenAIError


def _codes(status: int) -> str:
    table = {**REFUSALS, **GATEWAY_CODES}
    codes = [
        f"`{code}`: {meaning}"
        for code, (code_status, meaning) in table.items()
        if STATUS_ON_GATEWAY.get(code, code_status) == status
    ]
    return "; ".join(codes) or "Refused"


def gateway_errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=OpenAIErrorBody, description=_codes(status))
        for status in statuses
    }
