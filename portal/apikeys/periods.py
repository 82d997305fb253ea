"""Pure rules: limit reset periods (UTC midnight, weeks from Monday) and durations."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from portal.db.models.apikeys import ResetPeriod

Clock = Callable[[], datetime]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
