"""Gateway traffic per model, from the usage events the gateway wrote (`source = 'gateway'`): requests,
tokens, cost, errors (answers with a status of 400 or more) and the median latency.

The median is exact on both backends: PostgreSQL computes it (percentile_cont); SQLite has no such
function, so its latencies are read (one small integer per request of the window) and the median is
taken in Python with the same interpolation."""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import UsageEvent
from portal.db.models.apikeys import UsageSource

WINDOW = timedelta(days=30)
ERROR_STATUS = 400


@dataclass(frozen=True)
class ModelTraffic:
    provider: str
    model: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_micros: int
    errors: int
    p50_ms: float | None  # None: no latency recorded

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"


async def gateway_traffic(
    db: AsyncSession,
    *,
    now: datetime,
    tenant_id: uuid.UUID,
    lineage_id: uuid.UUID | None = None,
    window: timedelta = WINDOW,
) -> list[ModelTraffic]:
    """The tenant's (or one key lineage's) gateway traffic per model over the window up to `now`,
    costliest first."""
    where: list[ColumnElement[bool]] = [
        UsageEvent.source == UsageSource.GATEWAY.value,
        UsageEvent.tenant_id == tenant_id,
        UsageEvent.occurred_at >= now - window,
        UsageEvent.occurred_at <= now,
    ]
    if lineage_id is not None:
        where.append(UsageEvent.lineage_id == lineage_id)
    postgres = db.get_bind().dialect.name == "postgresql"
    cost = func.sum(UsageEvent.cost_micros)
    columns = [
        UsageEvent.provider,
        UsageEvent.model,
        func.count(UsageEvent.id),
        func.sum(UsageEvent.input_tokens),
        func.sum(UsageEvent.output_tokens),
        cost,
        func.sum(case((UsageEvent.status_code >= ERROR_STATUS, 1), else_=0)),
    ]
    if postgres:
        columns.append(func.percentile_cont(0.5).within_group(UsageEvent.latency_ms))
    query = (
        select(*columns)
        .where(*where)
        .group_by(UsageEvent.provider, UsageEvent.model)
        .order_by(cost.desc(), UsageEvent.provider, UsageEvent.model)
    )
    rows = (await db.execute(query)).all()
    medians = {(r[0], r[1]): r[7] for r in rows} if postgres else await _medians(db, where)
    return [
        ModelTraffic(
            provider=row[0],
            model=row[1],
            requests=int(row[2]),
            input_tokens=int(row[3] or 0),
            output_tokens=int(row[4] or 0),
            cost_micros=int(row[5] or 0),
            errors=int(row[6] or 0),
            p50_ms=None if medians.get((row[0], row[1])) is None else float(medians[(row[0], row[1])]),
        )
        for row in rows
    ]


async def _medians(db: AsyncSession, where: list[ColumnElement[bool]]) -> dict[tuple[str, str], float]:
    latencies: dict[tuple[str, str], list[int]] = defaultdict(list)
    query = select(UsageEvent.provider, UsageEvent.model, UsageEvent.latency_ms).where(
        *where, UsageEvent.latency_ms.is_not(None)
    )
    for provider, model, latency in (await db.execute(query)).all():
        if latency is not None:
            latencies[(provider, model)].append(int(latency))
    return {group: float(statistics.median(values)) for group, values in latencies.items()}
