"""Usage that services report (recorded once per Idempotency-Key, limits audited once per period)
and the usage report per key. Spend over time, forecasts and health: portal.apikeys.spend."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.money import micros_to_usd, usd_to_micros
from portal.apikeys.periods import period_bounds
from portal.apikeys.refusals import Refusal
from portal.apikeys.rules import WARN_SHARE
from portal.apikeys.spend import spent
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.models import ApiKey, Tenant, UsageEvent
from portal.errors import InvalidInput

NAME_MAX = 200
TOKENS_MAX = 10**12
REPORT_PERIODS = ("yesterday", "7d", "30d")


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
    try:
        async with db.begin_nested():  # a clash undoes this insert alone
            db.add(event)
    except IntegrityError:
        # The same Idempotency-Key, committed by a concurrent retry.
        found = await _existing(db, lineage_id, idempotency_key or "")
        if found is None:
            raise
        return await _duplicate(db, found, report, lineage_id, limit_micros, start, end)
    total = await spent(db, lineage_id, start, end)
    if limit_micros is not None:
        actor = Actor(label=label)
        for column, action, reached in (
            (ApiKey.warned_for, "api_key.limit_warning", total >= WARN_SHARE * limit_micros),
            (ApiKey.exhausted_for, "api_key.limit_reached", total >= limit_micros),
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
                        "spent_usd": micros_to_usd(total),
                        "limit_usd": micros_to_usd(limit_micros),
                        "share": round(total / limit_micros, 4),
                        "period_start": start.isoformat(),
                    },
                )
    await db.flush()
    return Recorded(event, False, total, limit_micros, start, end)


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
        raise Refusal("idempotency_conflict")
    return Recorded(found, True, await spent(db, lineage_id, start, end), limit_micros, start, end)


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
