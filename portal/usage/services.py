"""Usage that services report, spend per key and period, reports, alerts and forecasts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.periods import period_bounds, usd_to_micros
from portal.apikeys.refusals import Refusal
from portal.apikeys.services import WARN_SHARE, KeyView
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.models import ApiKey, Tenant, UsageEvent
from portal.errors import InvalidInput

NAME_MAX = 200
TOKENS_MAX = 10**12
REPORT_PERIODS = ("yesterday", "7d", "30d")
RATE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class UsageReport:
    """What a service reports; checked before anything is written."""

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_micros: int

    @classmethod
    def check(
        cls, provider: Any, model: Any, input_tokens: Any, output_tokens: Any, cost: Any
    ) -> UsageReport:
        errors: dict[str, str] = {}
        for name, value in (("provider", provider), ("model", model)):
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > NAME_MAX:
                errors[name] = f"required: 1 to {NAME_MAX} characters"
        for name, value in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TOKENS_MAX:
                errors[name] = "a whole number of tokens, 0 or more"
        micros = 0
        try:
            if isinstance(cost, bool) or not isinstance(cost, int | float | str):
                raise ValueError("a dollar amount such as 0.0123")
            micros = usd_to_micros(cost, allow_zero=True)
        except ValueError as exc:
            errors["cost"] = str(exc)
        if errors:
            raise InvalidInput(errors)
        return cls(provider.strip(), model.strip(), input_tokens, output_tokens, micros)


@dataclass(frozen=True)
class Recorded:
    event: UsageEvent
    duplicate: bool
    spent_micros: int
    limit_micros: int | None
    period_start: datetime
    period_end: datetime | None


async def _spent(db: AsyncSession, lineage_id: uuid.UUID, start: datetime, end: datetime | None) -> int:
    query = select(func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
        UsageEvent.lineage_id == lineage_id, UsageEvent.occurred_at >= start
    )
    if end is not None:
        query = query.where(UsageEvent.occurred_at < end)
    return int(await db.scalar(query) or 0)


def _same(event: UsageEvent, report: UsageReport) -> bool:
    return (event.provider, event.model, event.input_tokens, event.output_tokens, event.cost_micros) == (
        report.provider,
        report.model,
        report.input_tokens,
        report.output_tokens,
        report.cost_micros,
    )


async def _existing(db: AsyncSession, lineage_id: uuid.UUID, idempotency_key: str) -> UsageEvent | None:
    """Per lineage: a retry sent with the rotated key's replacement is the same report."""
    return await db.scalar(
        select(UsageEvent).where(
            UsageEvent.lineage_id == lineage_id, UsageEvent.idempotency_key == idempotency_key
        )
    )


async def record_usage(
    db: AsyncSession,
    *,
    key_id: uuid.UUID,
    lineage_id: uuid.UUID,
    tenant_id: uuid.UUID,
    limit_micros: int | None,
    reset_period: str,
    label: str,
    report: UsageReport,
    idempotency_key: str | None,
    now: datetime,
) -> Recorded:
    """Record one report for the calling key; a retried report (same Idempotency-Key, from this key
    or another of its lineage) counts once.

    Crossing 80 % of the limit, and reaching it, are audited once per period."""
    start, end = period_bounds(reset_period, now)
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 200 or not idempotency_key.isprintable():
            raise InvalidInput({"Idempotency-Key": "1 to 200 printable characters"})
        found = await _existing(db, lineage_id, idempotency_key)
        if found is not None:
            return await _duplicate(db, found, report, lineage_id, limit_micros, start, end)
    event = UsageEvent(
        api_key_id=key_id,
        lineage_id=lineage_id,
        tenant_id=tenant_id,
        provider=report.provider,
        model=report.model,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cost_micros=report.cost_micros,
        idempotency_key=idempotency_key,
        occurred_at=now,
    )
    db.add(event)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()  # the same Idempotency-Key, committed by a concurrent retry
        found = await _existing(db, lineage_id, idempotency_key or "")
        if found is None:
            raise
        return await _duplicate(db, found, report, lineage_id, limit_micros, start, end)
    spent = await _spent(db, lineage_id, start, end)
    if limit_micros is not None:
        actor = Actor(label=label)
        for column, action, reached in (
            (ApiKey.warned_for, "api_key.limit_warning", spent >= WARN_SHARE * limit_micros),
            (ApiKey.exhausted_for, "api_key.limit_reached", spent >= limit_micros),
        ):
            if not reached:
                continue
            # Once per period, whichever report gets there first (a conditional update decides).
            result = await db.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, (column.is_(None)) | (column != start))
                .values({column.key: start})
            )
            if result.rowcount:  # type: ignore[attr-defined]
                await audit.record(
                    db,
                    actor,
                    action,
                    tenant_id=tenant_id,
                    target=f"api_key:{key_id}",
                    details={
                        "spent_usd": spent / 1e6,
                        "limit_usd": limit_micros / 1e6,
                        "share": round(spent / limit_micros, 4),
                        "period_start": start.isoformat(),
                    },
                )
    await db.commit()
    return Recorded(event, False, spent, limit_micros, start, end)


async def _duplicate(
    db: AsyncSession,
    found: UsageEvent,
    report: UsageReport,
    lineage_id: uuid.UUID,
    limit_micros: int | None,
    start: datetime,
    end: datetime | None,
) -> Recorded:
    if not _same(found, report):
        await db.rollback()
        raise Refusal("idempotency_conflict")
    spent = await _spent(db, lineage_id, start, end)
    db.expunge(found)  # keeps its loaded values once the transaction ends
    await db.rollback()
    return Recorded(found, True, spent, limit_micros, start, end)


# ---------------------------------------------------------------------------- series and reports


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
    day = func.date(func.timezone("UTC", at)) if db.get_bind().dialect.name == "postgresql" else func.date(at)
    query = select(
        day,
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
        for bucket, cost, n, i, o in (await db.execute(query.group_by(day))).all()
    }
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        cost, requests, tokens_in, tokens_out = totals.get(day, [0, 0, 0, 0])
        points.append(DayPoint(day, cost, requests, tokens_in, tokens_out))
    return points


def report_window(period: str, now: datetime) -> tuple[datetime, datetime]:
    if period not in REPORT_PERIODS:
        raise InvalidInput({"period": f"one of {', '.join(REPORT_PERIODS)}"})
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "yesterday":
        return midnight - timedelta(days=1), midnight
    days = 7 if period == "7d" else 30
    return now - timedelta(days=days), now


@dataclass(frozen=True)
class ReportRow:
    tenant: str
    key_id: uuid.UUID
    key_name: str
    key: str  # prefix…last four
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int


async def usage_report(
    db: AsyncSession, since: datetime, until: datetime, *, tenant: Tenant | None = None
) -> list[ReportRow]:
    query = (
        select(
            Tenant.slug,
            ApiKey.id,
            ApiKey.name,
            ApiKey.prefix,
            ApiKey.last_four,
            func.count(UsageEvent.id),
            func.coalesce(func.sum(UsageEvent.input_tokens), 0),
            func.coalesce(func.sum(UsageEvent.output_tokens), 0),
            func.coalesce(func.sum(UsageEvent.cost_micros), 0),
        )
        .join(ApiKey, ApiKey.id == UsageEvent.api_key_id)
        .join(Tenant, Tenant.id == UsageEvent.tenant_id)
        .where(UsageEvent.occurred_at >= since, UsageEvent.occurred_at < until)
        .group_by(Tenant.slug, ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.last_four)
        .order_by(func.coalesce(func.sum(UsageEvent.cost_micros), 0).desc(), Tenant.slug, ApiKey.name)
    )
    if tenant is not None:
        query = query.where(UsageEvent.tenant_id == tenant.id)
    return [
        ReportRow(slug, key_id, name, f"{prefix}…{last4}", int(n), int(i), int(o), int(c))
        for slug, key_id, name, prefix, last4, n, i, o, c in (await db.execute(query)).all()
    ]


# ---------------------------------------------------------------------------- forecasts


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
    if view.state in {"revoked", "replaced"}:
        return found
    if tenant_status != "active":
        found.append("tenant suspended")
    if view.state == "expired":
        found.append("expired")
    elif key.expires_at is not None and key.expires_at - now < timedelta(days=7):
        found.append(f"expires in {max(0, (key.expires_at - now).days)} days")
    if view.state == "disabled":
        found.append("disabled")
    if view.state == "grace" and key.grace_ends_at is not None:
        found.append(f"rotated: stops at {key.grace_ends_at:%Y-%m-%d %H:%M} UTC")
    if key.limit_micros is None:
        found.append("no spend limit")
    elif view.spent_micros >= key.limit_micros:
        found.append("limit reached")
    elif view.share is not None and view.share >= WARN_SHARE:
        found.append(f"at {view.share:.0%} of its limit")
    if last is None:
        if now - key.created_at > timedelta(days=7):
            found.append("never used")
    elif now - last > timedelta(days=30):
        found.append(f"unused for {(now - last).days} days")
    return found
