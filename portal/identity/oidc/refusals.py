"""The one way a sign-in is refused: SignInRefused, raised by the OIDC client, the admission rules
and the sign-in controller alike, and turned into the refusal page (with its audit event) once.

`reason` is shown to the person; `code` and `details` go to the audit log; `status_code` is the
page's status. Where the refusal happened (the tenant) and who was refused are filled in by the
caller that knows them (`at`, `by`).
"""

from __future__ import annotations

import uuid
from typing import Any

ANONYMOUS = "anonymous"


class SignInRefused(Exception):
    """The person may not come in; `reason` is shown to them, `code` goes to the audit log."""

    def __init__(
        self, code: str, reason: str, *, status_code: int = 403, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})
        self.who = ANONYMOUS
        self.tenant_id: uuid.UUID | None = None
        self.tenant_name: str | None = None
        self.slug: str | None = None

    def at(self, tenant_id: uuid.UUID, tenant_name: str, slug: str | None = None) -> SignInRefused:
        """The tenant the sign-in was for (kept when already known)."""
        if self.tenant_id is None:
            self.tenant_id, self.tenant_name, self.slug = tenant_id, tenant_name, slug
        return self

    def by(self, who: str, details: dict[str, Any] | None = None) -> SignInRefused:
        """The person who was refused (a refusal naming someone is always audited)."""
        self.who = who
        self.details.update(details or {})
        return self


def unavailable(name: str) -> SignInRefused:
    return SignInRefused("sso_unavailable", unavailable_reason(name), status_code=404)


def unavailable_reason(name: str) -> str:
    return (
        f"{name} does not offer single sign-on on this portal (it is not set up, or switched off). "
        "Ask its administrators."
    )


def secret_undecryptable(name: str, problem: object) -> SignInRefused:
    return SignInRefused(
        "secret_undecryptable",
        f"The single sign-on settings of {name} cannot be used: the client secret cannot be opened "
        f"({problem}). Its administrators must enter the client secret again.",
        status_code=503,
    )
