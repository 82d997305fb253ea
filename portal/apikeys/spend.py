"""Spend of issued keys over time: per UTC day, the recent rate and when a key reaches its limit,
when a key was last used and what an operator should look at. Read from the usage events that
portal.usage records; the hot path's spend counter uses the same query (`spent_query`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.periods import period_bounds
from portal.apikeys.rules import RETIRED, WARN_SHARE, KeyState, KeyView
from portal.db.models import UsageEvent
from portal.db.models.apikeys import ResetPeriod

RATE_WINDOW = timedelta(days=7)


def spent_query(lineage_id: uuid.UUID, start: datetime, end: datetime | None) -> Select[Any]:
    """The spend of a key lineage in [start, end): what its limit is checked against."""
    query = select(func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
        UsageEvent.lineage_id == lineage_id, UsageEvent.occurred_at >= start
    )
    return query if end is None else query.where(UsageEvent.occurred_at < end)


def tenant_spent_query(tenant_id: uuid.UUID, start: datetime, end: datetime | None) -> Select[Any]:
    """The spend of every key of a tenant in [start, end): what its monthly limit is checked against."""
    query = select(func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
        UsageEvent.tenant_id == tenant_id, UsageEvent.occurred_at >= start
    )
    return query if end is None else query.where(UsageEvent.occurred_at < end)


async def tenant_month(db: AsyncSession, tenant_id: uuid.UUID, now: datetime) -> tuple[int, datetime | None]:
    """The tenant's spend this calendar month (UTC), and when the month ends: its monthly limit's view."""
    start, end = period_bounds(ResetPeriod.MONTHLY, now)
    return int(await db.scalar(tenant_spent_query(tenant_id, start, end)) or 0), end


async def spent(db: AsyncSession, lineage_id: uuid.UUID, start: datetime, end: datetime | None) -> int:
    return int(await db.scalar(spent_query(lineage_id, start, end)) or 0)


@dataclass(frozen=True)
class DayPoint:
    day: date
    cost_micros: int
    requests: int
    input_tokens: int
    output_tokens: int


def _day_of(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def daily_series(
    db: AsyncSession,
    *,
    now: datetime,
    days: int = 30,
    tenant_id: uuid.UUID | None = None,
    lineage_id: uuid.UUID | None = None,
) -> list[DayPoint]:
    """Spend per UTC day over the last `days` days (today included), zero-filled."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    at = UsageEvent.occurred_at
    bucket_of = (
        func.date(func.timezone("UTC", at)) if db.get_bind().dialect.name == "postgresql" else func.date(at)
    )
    query = select(
        bucket_of,
        func.sum(UsageEvent.cost_micros),
        func.count(UsageEvent.id),
        func.sum(UsageEvent.input_tokens),
        func.sum(UsageEvent.output_tokens),
    ).where(at >= since, at < since + timedelta(days=days))
    if tenant_id is not None:
        query = query.where(UsageEvent.tenant_id == tenant_id)
    if lineage_id is not None:
        query = query.where(UsageEvent.lineage_id == lineage_id)
    totals = {
        _day_of(bucket): [int(cost or 0), int(n), int(i or 0), int(o or 0)]
        for bucket, cost, n, i, o in (await db.execute(query.group_by(bucket_of))).all()
    }
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        cost, requests, tokens_in, tokens_out = totals.get(day, [0, 0, 0, 0])
        points.append(DayPoint(day, cost, requests, tokens_in, tokens_out))
    return points


@dataclass(frozen=True)
class Forecast:
    view: KeyView
    rate_micros_per_day: float
    reaches_at: datetime | None
    note: str


async def recent_rates(
    db: AsyncSession, lineages: list[uuid.UUID], now: datetime, tenant_id: uuid.UUID | None = None
) -> dict[uuid.UUID, int]:
    """Spend per lineage over the last seven days."""
    if not lineages:
        return {}
    query = select(UsageEvent.lineage_id, func.sum(UsageEvent.cost_micros)).where(
        UsageEvent.occurred_at >= now - RATE_WINDOW, UsageEvent.occurred_at < now + timedelta(seconds=1)
    )
    if tenant_id is not None:
        query = query.where(UsageEvent.tenant_id == tenant_id)
    wanted = set(lineages)
    return {
        lineage: int(total or 0)
        for lineage, total in (await db.execute(query.group_by(UsageEvent.lineage_id))).all()
        if lineage in wanted
    }


def forecast_one(view: KeyView, recent_micros: int, now: datetime) -> Forecast:
    """When the key reaches its limit at its rate over the last seven days (or since it was created)."""
    key = view.key
    window_days = max(1.0, min(RATE_WINDOW, now - key.created_at).total_seconds() / 86400)
    rate = recent_micros / window_days
    if key.limit_micros is None:
        return Forecast(view, rate, None, "no limit")
    if view.spent_micros >= key.limit_micros:
        return Forecast(view, rate, now, "limit reached")
    if rate <= 0:
        return Forecast(view, rate, None, "no recent spend: not at this rate")
    reaches = now + timedelta(days=(key.limit_micros - view.spent_micros) / rate)
    if view.period_end is not None and reaches >= view.period_end:
        return Forecast(view, rate, None, f"resets first ({view.period_end:%Y-%m-%d})")
    return Forecast(view, rate, reaches, f"around {reaches:%Y-%m-%d %H:%M} UTC")


async def forecasts(
    db: AsyncSession, views: list[KeyView], now: datetime, tenant_id: uuid.UUID | None = None
) -> list[Forecast]:
    rates = await recent_rates(db, [v.key.lineage_id for v in views], now, tenant_id)
    return [forecast_one(v, rates.get(v.key.lineage_id, 0), now) for v in views]


async def last_used(db: AsyncSession, lineages: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    if not lineages:
        return {}
    rows = await db.execute(
        select(UsageEvent.lineage_id, func.max(UsageEvent.occurred_at)).group_by(UsageEvent.lineage_id)
    )
    wanted = set(lineages)
    result = {}
    for lineage, at in rows.all():
        if lineage in wanted and at is not None:
            result[lineage] = at if isinstance(at, datetime) and at.tzinfo else _aware(at)
    return result


def _aware(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def problems_of(
    view: KeyView, now: datetime, last: datetime | None, tenant_status: str = "active"
) -> list[str]:
    """What an operator should look at for one key (health-check)."""
    key = view.key
    found: list[str] = []
    if view.state in RETIRED:
        return found
    if tenant_status != "active":
        found.append("tenant suspended")
    if view.state == KeyState.EXPIRED:
        found.append("expired")
    elif key.expires_at is not None and key.expires_at - now < timedelta(days=7):
        found.append(f"expires in {max(0, (key.expires_at - now).days)} days")
    if view.state == KeyState.DISABLED:
        found.append("disabled")
    if view.state == KeyState.GRACE and key.grace_ends_at is not None:
        found.append(f"rotated: stops at {key.grace_ends_at:%Y-%m-%d %H:%M} UTC")
    return found + _spend_problems(view) + _use_problems(view, now, last)


def _spend_problems(view: KeyView) -> list[str]:
    limit = view.key.limit_micros
    if limit is None:
        return ["no spend limit"]
    if view.spent_micros >= limit:
        return ["limit reached"]
    if view.share is not None and view.share >= WARN_SHARE:
        return [f"at {view.share:.0%} of its limit"]
    return []


def _use_problems(view: KeyView, now: datetime, last: datetime | None) -> list[str]:
    if last is None:
        return ["never used"] if now - view.key.created_at > timedelta(days=7) else []
    return [f"unused for {(now - last).days} days"] if now - last > timedelta(days=30) else []
