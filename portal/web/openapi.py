"""The JSON API's refusals in the OpenAPI document: one body shape each, one description per status.

Every operation names the 4xx answers it can give (`responses=...` on its handler), so clients and
the schemathesis run in the test suite know what to expect. The bodies are what portal.web.errors
and portal.apikeys.service_api send.
"""

from __future__ import annotations

import msgspec
from litestar.openapi.datastructures import ResponseSpec

from portal.apikeys.refusals import REFUSALS


class ErrorBody(msgspec.Struct):
    """A refusal of the portal's API: `detail` says what is wrong and how to fix it."""

    status_code: int
    detail: str
    # Only for 400: each field named, with its problem and the fix.
    errors: dict[str, str] | msgspec.UnsetType = msgspec.UNSET


class RefusalBody(msgspec.Struct):
    """A refusal of the service API (resolve, usage): `code` is stable, `detail` is for people."""

    status_code: int
    code: str
    detail: str


_PORTAL_REASONS = {
    400: "Invalid input: `errors` names each field, its problem and the fix",
    401: "No credentials, or they are not valid: send the platform key in X-API-Key, or sign in",
    403: "The caller may not do this: not a platform admin, a tenant member asking for a change, "
    "an issued API key outside the service API, or a session change without the x-csrftoken header",
    404: "No such tenant visible to the caller, or no such item in it",
    409: "The change conflicts with the current state (a name or slug taken, a revoked key, "
    "the tenant's last admin, an invitation already used)",
    429: "Too many failed attempts (unknown keys) from this address: retry after Retry-After seconds",
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The portal API's refusals with these status codes."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_PORTAL_REASONS[status])
        for status in statuses
    }


def service_errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The service API's refusals with these status codes; each description lists the codes."""
    return {
        status: ResponseSpec(data_container=RefusalBody, description=_codes(status)) for status in statuses
    }


def _codes(status: int) -> str:
    codes = [
        f"`{code}`: {meaning}" for code, (code_status, meaning) in REFUSALS.items() if code_status == status
    ]
    return "; ".join(codes) or "Refused"


# The two sets most operations answer: reading something that may not exist, and changing it.
READ = errors(400, 401, 403, 404, 429)
CHANGE = errors(400, 401, 403, 404, 409, 429)
