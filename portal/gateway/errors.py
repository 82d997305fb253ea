"""The gateway's refusals and failures, in OpenAI's error shape, with the statuses the official SDKs
turn into their own exception classes.

`{"error": {"message", "type", "code", "param"}}`. The codes are the service API's
(portal.apikeys.refusals) where one applies; a few statuses differ on these routes, so that the SDK
raises the right class and does not retry what a retry cannot fix:

- a disabled key is 401 (AuthenticationError), as unknown, revoked and expired keys are;
- `limit_reached` is 402 (the SDK retries 429, and a spent budget does not come back by retrying);
- the provider's own failures are 502 (`upstream_error`) and its silence 504 (`upstream_timeout`).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from portal.apikeys.refusals import REFUSALS, Refusal
from portal.errors import ServiceError

# The route option of the gateway's routes: errors in OpenAI's shape (portal.web.errors).
GATEWAY_API = "gateway_api"

# The gateway's own codes beside the service API's (portal.apikeys.refusals).
GATEWAY_CODES: dict[str, tuple[int, str]] = {
    "ambiguous_model": (400, "several of the key's providers have this model: name it provider/model"),
    "model_unpriced": (403, "this model has no prices, and the key or tenant has a spend limit"),
    "rate_limited": (429, "this API key sent too many requests or tokens: retry after Retry-After seconds"),
    "limit_reached": (402, "the spend limit of this API key or its tenant does not fit this request"),
    "upstream_error": (502, "the provider failed or refused the tenant's credential"),
    "upstream_timeout": (504, "the provider did not answer in time"),
}
# Refusal codes answered with another status on the gateway's routes.
STATUS_ON_GATEWAY = {"key_disabled": 401}

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    504: "timeout_error",
}


class GatewayError(ServiceError):
    """A refusal or failure of a gateway route; answered as `{"error": {...}}`."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_status, meaning = GATEWAY_CODES.get(code) or REFUSALS.get(code) or (status or 400, code)
        super().__init__(message or meaning)
        self.code = code
        self.status_code = status or STATUS_ON_GATEWAY.get(code, default_status)
        self.param = param
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, refusal: Refusal) -> GatewayError:
        """The service API's refusal as the gateway answers it."""
        return cls(refusal.code, refusal.detail, headers=refusal.headers)

    def body(self) -> bytes:
        return error_body(self.status_code, self.code, self.message, self.param)


def invalid(param: str, message: str) -> GatewayError:
    """A bad request naming the parameter."""
    return GatewayError("invalid_request", f"{param}: {message}", param=param)


def error_body(status: int, code: str | None, message: str, param: str | None = None) -> bytes:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return msgspec.json.encode({"error": {"message": message, "type": kind, "code": code, "param": param}})
