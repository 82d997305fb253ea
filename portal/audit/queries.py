"""Reading the audit log: filters, paging, CSV export. One tenant's events, or all of them."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.db.models import AuditEvent, Tenant
from portal.db.paging import Page, contains_any, paginate, starts_with

CSV_COLUMNS = [
    "id",
    "at",
    "actor",
    "impersonator",
    "tenant_id",
    "tenant",
    "action",
    "target",
    "outcome",
    "ip",
    "user_agent",
    "details",
]
CSV_BATCH = 1000


@dataclass(frozen=True)
class AuditFilter:
    """What the pages, the API and the export filter on; `errors` names unreadable fields."""

    tenant_id: uuid.UUID | None = None
    action: str = ""
    actor: str = ""
    target: str = ""
    since: datetime | None = None
    until: datetime | None = None
    raw: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def query_string(self) -> str:
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in self.raw.items() if v})


def _parse_time(raw: str, *, end: bool) -> datetime:
    """YYYY-MM-DD (a whole day) or YYYY-MM-DDTHH:MM, read as UTC."""
    raw = raw.strip()
    if len(raw) == 10:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
        return day + timedelta(days=1) if end else day
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_filter(
    *,
    tenant_id: uuid.UUID | None = None,
    action: str = "",
    actor: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
) -> AuditFilter:
    errors: dict[str, str] = {}
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name, raw in (("since", since), ("until", until)):
        if raw.strip():
            try:
                times[name] = _parse_time(raw, end=name == "until")
            except ValueError:
                errors[name] = "a date (2026-01-31) or a date and time (2026-01-31T14:30), in UTC"
    if times["since"] and times["until"] and times["since"] >= times["until"]:
        errors["until"] = "must be after From"
    given = {"action": action, "actor": actor, "target": target, "since": since, "until": until}
    return AuditFilter(
        tenant_id=tenant_id,
        action=action.strip(),
        actor=actor.strip(),
        target=target.strip(),
        since=None if "since" in errors else times["since"],
        until=None if "until" in errors else times["until"],
        raw={k: v.strip() for k, v in given.items()},
        errors=errors,
    )


def _query(f: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if f.tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == f.tenant_id)
    if f.action:  # a prefix: "invitation." finds every invitation event
        query = query.where(starts_with(AuditEvent.action, f.action))
    if f.actor:
        query = query.where(contains_any(f.actor, AuditEvent.actor, AuditEvent.impersonator))
    if f.target:
        query = query.where(contains_any(f.target, AuditEvent.target))
    if f.since:
        query = query.where(AuditEvent.at >= f.since)
    if f.until:
        query = query.where(AuditEvent.at < f.until)
    return query


async def search(db: AsyncSession, f: AuditFilter, *, page: int = 1, per_page: int = 50) -> Page[AuditEvent]:
    """Newest first."""
    return await paginate(db, _query(f), page=page, per_page=per_page, order_by=(AuditEvent.id.desc(),))


async def tenant_slugs(db: AsyncSession, events: list[AuditEvent]) -> dict[uuid.UUID, str]:
    ids = {e.tenant_id for e in events if e.tenant_id}
    if not ids:
        return {}
    rows = await db.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(ids)))
    return {r.id: r.slug for r in rows}


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a value as a formula.
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


async def export_csv(sessions: async_sessionmaker[AsyncSession], f: AuditFilter) -> AsyncIterator[str]:
    """The filtered events as CSV, oldest first, read in batches (for a streamed download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    async with sessions() as db:
        async for rows in in_batches(db, _query(f), CSV_BATCH):
            slugs = await tenant_slugs(db, rows)
            buffer.seek(0)
            buffer.truncate()
            for e in rows:
                writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            e.id,
                            e.at.isoformat(),
                            e.actor,
                            e.impersonator,
                            e.tenant_id,
                            slugs.get(e.tenant_id) if e.tenant_id else "",
                            e.action,
                            e.target,
                            e.outcome,
                            e.ip,
                            e.user_agent,
                            json.dumps(e.details, sort_keys=True),
                        )
                    ]
                )
            yield buffer.getvalue()


async def in_batches(
    db: AsyncSession, query: Select[AuditEvent], size: int
) -> AsyncIterator[list[AuditEvent]]:
    """The events `query` selects, oldest first, `size` at a time (keyset paging on the id). Each batch
    leaves the session once the caller is done with it, so memory stays flat over any number."""
    last_id = 0
    while True:
        page = query.where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(size)
        rows = list(await db.scalars(page))
        if not rows:
            return
        yield rows
        last_id = rows[-1].id
        await db.flush()
        db.expunge_all()


def csv_filename(scope: str) -> str:
    return f"audit-{scope}-{datetime.now(UTC):%Y%m%d-%H%M}.csv"


__all__ = ["AuditFilter", "export_csv", "make_filter", "search"]
