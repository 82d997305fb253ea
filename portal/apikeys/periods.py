"""Pure rules: limit reset periods (UTC midnight, weeks from Monday), durations, money in micro-USD."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from portal.db.models.apikeys import ResetPeriod

Clock = Callable[[], datetime]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000
MAX_USD = Decimal("1000000")  # no single limit or report above a million dollars
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime | None]:
    """The current period [start, end) for a reset period; `none` is one period from the epoch on."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == ResetPeriod.DAILY:
        return midnight, midnight + timedelta(days=1)
    if period == ResetPeriod.WEEKLY:
        start = midnight - timedelta(days=midnight.weekday())  # Monday is 0
        return start, start + timedelta(days=7)
    if period == ResetPeriod.MONTHLY:
        start = midnight.replace(day=1)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start, end
    if period == ResetPeriod.NONE:
        return EPOCH, None
    raise ValueError(f"unknown reset period {period!r}")


def parse_duration(text: str) -> timedelta:
    """'30m', '24h', '90d', '2w' (or '0h'); ValueError with a message fit for the user."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError("a number and a unit: s, m, h, d or w (e.g. 24h, 90d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def usd_to_micros(value: object, *, allow_zero: bool = False) -> int:
    """A dollar amount (number or text such as '5.00' or '$5') in micro-USD; ValueError if invalid."""
    if isinstance(value, bool) or value is None:
        raise ValueError("a dollar amount such as 5.00")
    raw = str(value).strip().removeprefix("$").strip()
    try:
        amount = Decimal(raw)
    except InvalidOperation as exc:
        raise ValueError("a dollar amount such as 5.00") from exc
    if not amount.is_finite():
        raise ValueError("a dollar amount such as 5.00")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError("must be more than 0" if not allow_zero else "must not be negative")
    if amount > MAX_USD:
        raise ValueError(f"at most {MAX_USD:,} USD")
    return int((amount * MICROS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def micros_to_usd(micros: int | None) -> float | None:
    return None if micros is None else micros / MICROS


def format_usd(micros: int | None) -> str:
    if micros is None:
        return "no limit"
    value = Decimal(micros) / MICROS
    places = Decimal("0.01") if value >= Decimal("0.01") or value == 0 else Decimal("0.0001")
    return f"${value.quantize(places, rounding=ROUND_HALF_UP):,}"


def share(spent: int, limit: int | None) -> float | None:
    """Spend as a fraction of the limit (may exceed 1), or None without a limit."""
    return None if not limit else spent / limit
