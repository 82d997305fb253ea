"""Why the service API (resolve, usage) refuses a call: an HTTP status and a stable JSON code each.

Plain Python (no web framework): the command line imports the usage services, which raise these.
"""

from __future__ import annotations

from portal.errors import ServiceError

NO_STORE = {"Cache-Control": "no-store"}

# code -> (HTTP status, what it means); README's service API table lists the same.
REFUSALS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "the request body is not valid"),
    "missing_key": (401, "send an issued API key as Authorization: Bearer <key>"),
    "unknown_key": (401, "this API key is not known"),
    "key_revoked": (401, "this API key was revoked"),
    "key_expired": (401, "this API key has expired"),
    "key_grace_ended": (401, "this API key was rotated and its grace period has ended; use the new key"),
    "key_disabled": (403, "this API key is disabled"),
    "tenant_suspended": (403, "the tenant of this API key is suspended"),
    "scope_missing": (403, "this API key lacks the scope this call needs"),
    "model_not_allowed": (403, "this API key may not use this model"),
    "model_not_enabled": (403, "the tenant has not enabled this model"),
    "unknown_model": (404, "no such provider or model for this tenant"),
    "no_credential": (404, "no credential is configured for this provider"),
    "credential_undecryptable": (409, "the stored credential cannot be opened"),
    "idempotency_conflict": (409, "this Idempotency-Key was used for a different report"),
    "limit_reached": (429, "this API key has reached its spend limit"),
    "rate_limited": (429, "too many failed attempts from this address; retry after Retry-After seconds"),
}


class Refusal(ServiceError):
    """A service API refusal: its code names one of REFUSALS (portal.web.errors answers it)."""

    def __init__(self, code: str, detail: str | None = None, headers: dict[str, str] | None = None) -> None:
        status, default = REFUSALS[code]
        super().__init__(detail or default)
        self.code = code
        self.status_code = status
        self.detail = detail or default
        self.headers = headers or {}
