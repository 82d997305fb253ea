"""The API-key pages' form posts as typed structs, bound by Litestar (`data: Form[KeyForm]`).

A field that a form may repeat (checkboxes, a multiple select) arrives as a string when one value
is chosen and as a list for more: `Many` takes both, `many()` reads it as a list."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from portal.apikeys.money import usd_input
from portal.apikeys.rules import DEFAULT_SCOPES
from portal.db.models import ApiKey
from portal.errors import InvalidInput, ServiceError

Many = list[str] | str
# Field errors named after the page's fields (the services name what they check).
_RENAMED = {"expires_at": "expires_on", "expires_in": "expires_on"}


def many(value: Many) -> list[str]:
    return [v for v in ([value] if isinstance(value, str) else value) if v.strip()]


def form_errors(exc: ServiceError, field: str) -> dict[str, str]:
    """A refused change's errors beside the page's fields (one not of a field's input beside `field`)."""
    return {_RENAMED.get(k, k): v for k, v in exc.field_errors(field).items()}


class KeyForm(msgspec.Struct, kw_only=True):
    """Create (with `plan`) and edit a key."""

    name: str = ""
    scopes: Many = msgspec.field(default_factory=list)
    allowed_models: Many = msgspec.field(default_factory=list)
    plan: str = ""
    limit_usd: str = ""
    reset_period: str = ""
    expires_on: str = ""
    metadata: str = ""
    rpm_limit: str = ""
    tpm_limit: str = ""

    def __post_init__(self) -> None:
        self.scopes = many(self.scopes)
        self.allowed_models = many(self.allowed_models)

    @classmethod
    def new(cls) -> KeyForm:
        """What the create form offers first (a post without a field means none chosen)."""
        return cls(scopes=list(DEFAULT_SCOPES), reset_period="monthly")

    @classmethod
    def of(cls, key: ApiKey) -> KeyForm:
        return cls(
            name=key.name,
            scopes=list(key.scopes),
            allowed_models=list(key.allowed_models),
            limit_usd=usd_input(key.limit_micros),
            reset_period=key.reset_period,
            expires_on=key.expires_at.date().isoformat() if key.expires_at else "",
            metadata=json.dumps(key.key_metadata) if key.key_metadata else "",
            rpm_limit=str(key.rpm_limit or ""),
            tpm_limit=str(key.tpm_limit or ""),
        )

    def expires_at(self) -> datetime | None:
        """The date (UTC midnight at the start of that day); InvalidInput beside the field."""
        raw = self.expires_on.strip()
        if not raw:
            return None
        try:
            day = date.fromisoformat(raw)
        except ValueError as exc:
            raise InvalidInput({"expires_on": "a date such as 2027-01-31"}) from exc
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def terms(self) -> dict[str, Any]:
        """The new key's terms, as `services.create_key` takes them (a blank field: the default)."""
        return {
            "name": self.name,
            "scopes": self.scopes,
            "allowed_models": self.allowed_models,
            "limit_usd": self.limit_usd or None,
            "reset_period": self.reset_period or None,
            "plan": self.plan or None,
            "expires_at": self.expires_at(),
            "metadata": self.metadata or None,
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
        }

    def changes(self, key: ApiKey) -> dict[str, Any]:
        """What the edit form asks to change (the expiry only when it differs)."""
        changes: dict[str, Any] = {
            "name": self.name,
            "scopes": self.scopes,
            "allowed_models": self.allowed_models,
            "limit_usd": self.limit_usd or None,
            "reset_period": self.reset_period,
            "metadata": self.metadata or {},
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
        }
        expires_at = self.expires_at()
        if expires_at != key.expires_at:
            changes["expires_at"] = expires_at
        return changes


class AmountForm(msgspec.Struct):
    amount_usd: str = ""


class GraceForm(msgspec.Struct):
    grace: str = ""


class AgeForm(msgspec.Struct):
    older_than: str = ""


# The plans form: `{plan}_limit` and `{plan}_reset` for each plan.
PlansForm = dict[str, str]
