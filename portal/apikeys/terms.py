"""What a key allows (`KeyTerms`), checked from a person's or a service's input before anything is
written: every problem at once, each beside its field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from copy import copy
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.plans import PlanView, find_plan
from portal.apikeys.queries import tenant_model_names
from portal.apikeys.rules import (
    check_expiry,
    check_limit,
    check_metadata,
    check_name,
    check_rate,
    check_reset_period,
    check_scopes,
)
from portal.db.models import ApiKey, Tenant
from portal.errors import InvalidInput


@dataclass(frozen=True)
class KeyTerms:
    """What a key allows: checked input for a new key, or an old key's terms for its replacement."""

    name: str
    scopes: list[str]
    allowed_models: list[str]
    limit_micros: int | None
    reset_period: str
    plan: str | None = None
    expires_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    disabled: bool = False
    rpm_limit: int | None = None
    tpm_limit: int | None = None

    @classmethod
    def of_key(cls, key: ApiKey) -> KeyTerms:
        """The terms a key was issued with."""
        return cls(**{name: getattr(key, _COLUMNS.get(name, name)) for name in _names()})

    def columns(self) -> dict[str, Any]:
        """The terms as `ApiKey` columns; lists and dicts copied, so a row never shares one."""
        return {_COLUMNS.get(name, name): copy(getattr(self, name)) for name in _names()}


_COLUMNS = {"metadata": "key_metadata"}  # a term whose ApiKey column has another name


def _names() -> list[str]:
    return [term.name for term in fields(KeyTerms)]


async def check_models(db: AsyncSession, tenant: Tenant, models: Iterable[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(m.strip() for m in (models or []) if m and m.strip()))
    if not chosen:
        return []
    known = await tenant_model_names(db, tenant)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise InvalidInput({"allowed_models": f"no model named {unknown[0]!r} for this tenant"})
    return chosen


async def check_new_terms(
    db: AsyncSession,
    tenant: Tenant,
    now: datetime,
    *,
    name: str,
    scopes: Iterable[str] | None,
    allowed_models: Iterable[str] | None,
    limit_usd: object,
    reset_period: str | None,
    plan: str | None,
    expires_at: datetime | None,
    expires_in: str | None,
    metadata: object,
    disabled: bool,
    rpm_limit: object = None,
    tpm_limit: object = None,
) -> KeyTerms:
    """A new key's terms; a plan gives the limit and the reset period where none is given."""
    errors: dict[str, str] = {}
    chosen: PlanView | None = None
    if plan:
        try:
            chosen = await find_plan(db, tenant, plan)
        except InvalidInput as exc:
            errors.update(exc.errors)
    values: dict[str, Any] = {}
    default_period = chosen.reset_period if chosen else None
    checks: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("name", lambda: check_name(name)),
        ("scopes", lambda: check_scopes(scopes)),
        ("limit_micros", lambda: check_limit(limit_usd)),
        ("reset_period", lambda: check_reset_period(reset_period or default_period)),
        ("expires_at", lambda: check_expiry(expires_at, expires_in, now)),
        ("metadata", lambda: check_metadata(metadata)),
        ("rpm_limit", lambda: check_rate(rpm_limit, "rpm_limit")),
        ("tpm_limit", lambda: check_rate(tpm_limit, "tpm_limit")),
    )
    for field_name, check in checks:
        try:
            values[field_name] = check()
        except InvalidInput as exc:
            errors.update(exc.errors)
    try:
        values["allowed_models"] = await check_models(db, tenant, allowed_models)
    except InvalidInput as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    if values["limit_micros"] is None and chosen is not None:
        values["limit_micros"] = chosen.limit_micros
    return KeyTerms(plan=chosen.name if chosen else None, disabled=bool(disabled), **values)


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": check_name,
    "scopes": check_scopes,
    "limit_usd": check_limit,
    "reset_period": check_reset_period,
    "metadata": check_metadata,
    "rpm_limit": lambda value: check_rate(value, "rpm_limit"),
    "tpm_limit": lambda value: check_rate(value, "tpm_limit"),
}


async def check_changes(
    db: AsyncSession, tenant: Tenant, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The changes to an existing key, checked: {field: new value}; `expires_in` becomes `expires_at`."""
    errors: dict[str, str] = {}
    new: dict[str, Any] = {}
    for field_name, value in changes.items():
        try:
            if field_name in _CHECKS:
                new[field_name] = _CHECKS[field_name](value)
            elif field_name == "allowed_models":
                new[field_name] = await check_models(db, tenant, value)
            elif field_name == "expires_at":
                new[field_name] = None if value is None else check_expiry(value, None, now)
            elif field_name == "expires_in":
                new["expires_at"] = check_expiry(None, value, now) if value else None
            elif field_name == "disabled":
                new[field_name] = bool(value)
            else:
                errors[field_name] = "cannot be changed"
        except InvalidInput as exc:
            errors[field_name] = next(iter(exc.errors.values()), "invalid")
    if errors:
        raise InvalidInput(errors)
    return new
