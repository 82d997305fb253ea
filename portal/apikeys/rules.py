"""Pure rules of issued API keys: the choices, the one key-state rule, what a listing shows of a key,
and the validation of every field a person or a service sends. No database, no web.

The services, the resolve hot path, the command line and the pages all take their scopes, reset
periods, plans and states from here, and decide a key's state with `key_state` alone."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from portal.apikeys.money import share, usd_to_micros
from portal.apikeys.periods import parse_duration
from portal.db.models import ApiKey
from portal.db.models.apikeys import ResetPeriod, Scope
from portal.errors import InvalidInput

SCOPES = tuple(s.value for s in Scope)
# New keys call models through the gateway; resolve (the provider secret leaves the portal) and
# usage reports are for services that must call providers themselves, and are asked for by name.
DEFAULT_SCOPES = (Scope.INFERENCE.value,)
RESET_PERIODS = tuple(p.value for p in ResetPeriod)
# Plans are presets: a key copies its plan's limit at creation; editing a plan changes no key.
DEFAULT_PLANS: dict[str, tuple[int, str]] = {
    "free": (1_000_000, "monthly"),
    "basic": (5_000_000, "monthly"),
    "pro": (20_000_000, "monthly"),
    "enterprise": (100_000_000, "monthly"),
}
PLANS = tuple(DEFAULT_PLANS)
NAME_MAX = 200
NAME_HINT = "{environment}-{service}-{purpose}-{yyyymm}, e.g. prod-api-resolver-202611"
METADATA_MAX_BYTES = 4096
METADATA_MAX_KEYS = 50
METADATA_HINT = 'a JSON object, e.g. {"env": "prod", "service": "api"}'
MAX_GRACE = timedelta(days=30)
WARN_SHARE = 0.8
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class KeyState(StrEnum):
    ACTIVE = "active"
    GRACE = "grace"  # rotated: works until its grace period ends
    DISABLED = "disabled"
    EXPIRED = "expired"
    REPLACED = "replaced"  # rotated and past its grace period
    REVOKED = "revoked"


STATES = tuple(s.value for s in KeyState)
USABLE = frozenset({KeyState.ACTIVE, KeyState.GRACE})
RETIRED = frozenset({KeyState.REVOKED, KeyState.REPLACED})
# What the service API answers for a key in a state it may not be used in.
REFUSAL_CODES: dict[str, str] = {
    KeyState.REVOKED: "key_revoked",
    KeyState.REPLACED: "key_grace_ended",
    KeyState.EXPIRED: "key_expired",
    KeyState.DISABLED: "key_disabled",
}


class KeyTimes(Protocol):
    """What the state depends on: a stored key (ApiKey) and the hot path's copy of it alike."""

    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def grace_ends_at(self) -> datetime | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def disabled(self) -> bool: ...


def key_state(key: KeyTimes, now: datetime) -> KeyState:
    """The one rule: revoked, else past its grace (replaced), else expired, else disabled, else
    rotating (grace), else active."""
    if key.revoked_at is not None:
        return KeyState.REVOKED
    if key.grace_ends_at is not None and key.grace_ends_at <= now:
        return KeyState.REPLACED
    if key.expires_at is not None and key.expires_at <= now:
        return KeyState.EXPIRED
    if key.disabled:
        return KeyState.DISABLED
    if key.grace_ends_at is not None:
        return KeyState.GRACE
    return KeyState.ACTIVE


def created_before(key: ApiKey, now: datetime, age: timedelta) -> bool:
    """Unrevoked and created more than `age` ago: what "revoke keys older than" revokes."""
    return key.revoked_at is None and key.created_at < now - age


@dataclass(frozen=True)
class KeyView:
    """A key as listings show it: its state and its lineage's spend in the current period."""

    key: ApiKey
    tenant_slug: str
    state: str
    spent_micros: int
    period_start: datetime
    period_end: datetime | None

    @property
    def display(self) -> str:
        return f"{self.key.prefix}…{self.key.last_four}"

    @property
    def share(self) -> float | None:
        return share(self.spent_micros, self.key.limit_micros)

    @property
    def usable(self) -> bool:
        return self.state in USABLE

    @property
    def warning(self) -> bool:
        return self.usable and self.share is not None and self.share >= WARN_SHARE


# ---------------------------------------------------------------------------- validation


def check_name(name: str | None) -> str:
    clean = (name or "").strip()
    if not clean:
        raise InvalidInput({"name": f"required; suggested form {NAME_HINT}"})
    if len(clean) > NAME_MAX or any(not c.isprintable() for c in clean):
        raise InvalidInput({"name": f"at most {NAME_MAX} printable characters"})
    return clean


def check_scopes(scopes: Iterable[str] | None) -> list[str]:
    chosen = list(
        dict.fromkeys(s.strip() for s in (DEFAULT_SCOPES if scopes is None else scopes) if s.strip())
    )
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise InvalidInput({"scopes": f"unknown scope {unknown[0]!r}; choose from {', '.join(SCOPES)}"})
    if not chosen:
        raise InvalidInput({"scopes": f"choose at least one of {', '.join(SCOPES)}"})
    return [s for s in SCOPES if s in chosen]


def check_reset_period(value: str | None, field: str = "reset_period", default: str = "none") -> str:
    clean = (value or "").strip().lower() or default
    if clean not in RESET_PERIODS:
        raise InvalidInput({field: f"one of {', '.join(RESET_PERIODS)}"})
    return clean


def check_amount(value: object, field: str) -> int:
    """A dollar amount in micro-USD; InvalidInput beside `field`."""
    try:
        return usd_to_micros(value)
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from exc


def check_limit(value: object) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return check_amount(value, "limit_usd")


# Gateway rate limits per key: requests and tokens per minute (none: no limit).
RATE_LIMITS = {"rpm_limit": 1_000_000, "tpm_limit": 1_000_000_000}
RATE_HINT = "a whole number per minute such as 60, or empty for no limit"


def check_rate(value: object, field: str) -> int | None:
    """`rpm_limit` or `tpm_limit`: a positive whole number, or None (empty, 'none') for no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    text = str(value).strip().replace("_", "").replace(",", "")
    if isinstance(value, bool) or not text.isdigit():
        raise InvalidInput({field: RATE_HINT})
    number = int(text)
    if number <= 0:
        raise InvalidInput({field: "must be more than 0 (leave it empty for no limit)"})
    if number > RATE_LIMITS[field]:
        raise InvalidInput({field: f"at most {RATE_LIMITS[field]:,} per minute"})
    return number


def check_metadata(value: object) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidInput({"metadata": METADATA_HINT}) from exc
    if not isinstance(value, dict):
        raise InvalidInput({"metadata": METADATA_HINT})
    if len(value) > METADATA_MAX_KEYS:
        raise InvalidInput({"metadata": f"at most {METADATA_MAX_KEYS} keys"})
    bad = [k for k in value if not isinstance(k, str) or not _METADATA_KEY.match(k)]
    if bad:
        raise InvalidInput({"metadata": f"key {bad[0]!r}: 1 to 64 letters, digits, '_', '.', ':' or '-'"})
    if len(json.dumps(value)) > METADATA_MAX_BYTES:
        raise InvalidInput({"metadata": f"at most {METADATA_MAX_BYTES} bytes of JSON"})
    return dict(value)


def check_duration(value: str | timedelta, field: str) -> timedelta:
    """'24h', '90d' (or a timedelta as is); InvalidInput beside `field`."""
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from exc


def check_age(value: str | timedelta, field: str = "older_than") -> timedelta:
    """A positive duration, such as the age of keys to revoke."""
    delta = check_duration(value, field)
    if delta <= timedelta(0):
        raise InvalidInput({field: "must be more than 0"})
    return delta


def check_expiry(expires_at: datetime | None, expires_in: str | None, now: datetime) -> datetime | None:
    if expires_in:
        return now + check_age(expires_in, "expires_in")
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise InvalidInput({"expires_at": "give a time zone, e.g. 2027-01-31T00:00:00Z"})
    if expires_at <= now:
        raise InvalidInput({"expires_at": "must be in the future"})
    return expires_at


def check_grace(grace: str | timedelta) -> timedelta:
    delta = check_duration(grace, "grace")
    if delta < timedelta(0) or delta > MAX_GRACE:
        raise InvalidInput({"grace": "between 0 and 30d"})
    return delta


def check_state(state: str) -> str:
    if state and state not in STATES:
        raise InvalidInput({"state": f"one of {', '.join(STATES)}"})
    return state


def parse_metadata_filter(items: Iterable[str]) -> dict[str, str]:
    """['env=prod', 'service:api'] -> {'env': 'prod', 'service': 'api'}."""
    wanted: dict[str, str] = {}
    for item in items:
        if not item or not item.strip():
            continue
        separator = "=" if "=" in item else ":"
        key, sep, value = item.partition(separator)
        if not sep or not key.strip():
            raise InvalidInput({"metadata": "filter as key=value, e.g. env=prod"})
        wanted[key.strip()] = value.strip()
    return wanted


def metadata_matches(metadata: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    for key, value in wanted.items():
        have = metadata.get(key)
        if have is None:
            return False
        text = json.dumps(have) if isinstance(have, bool) else str(have)
        if text != value:
            return False
    return True
