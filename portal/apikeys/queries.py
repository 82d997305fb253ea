"""Reading issued keys: find one (within its tenant), list and filter, with state and spend.

One listing: `list_keys` loads the keys of a tenant (or of all) once, with their lineage's spend in
the current period, and a `KeyFilter` picks the ones asked for. The filters work on the views in
memory because two of them cannot be SQL (the state depends on the clock, the metadata is JSON),
and because the page needs every key anyway for its warnings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.periods import period_bounds
from portal.apikeys.rules import (
    RETIRED,
    KeyView,
    check_state,
    created_before,
    key_state,
    metadata_matches,
    parse_metadata_filter,
)
from portal.db.models import ApiKey, Model, Provider, Tenant, UsageEvent
from portal.errors import found, id_or_404


@dataclass(frozen=True)
class KeyFilter:
    """A name fragment (any case), a state, and metadata key=value pairs the key must all match."""

    name: str = ""
    state: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str = "", state: str = "", metadata: Iterable[str] = ()) -> KeyFilter:
        """From what a person typed; InvalidInput for an unknown state or a malformed pair."""
        wanted = parse_metadata_filter(metadata)
        return cls(name.strip().lower(), check_state(state), wanted)

    def matches(self, view: KeyView) -> bool:
        return (
            (not self.name or self.name in view.key.name.lower())
            and (not self.state or view.state == self.state)
            and metadata_matches(view.key.key_metadata, self.metadata)
        )

    def select(self, views: Sequence[KeyView]) -> list[KeyView]:
        return [v for v in views if self.matches(v)]


ALL = KeyFilter()


async def find_key(db: AsyncSession, key_id: str | uuid.UUID, tenant: Tenant | None = None) -> ApiKey:
    """The key by id, within the tenant when one is given; NotFound otherwise (never another tenant's)."""
    wanted = id_or_404(key_id.strip() if isinstance(key_id, str) else key_id, "API key")
    query = select(ApiKey).where(ApiKey.id == wanted)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    return found(await db.scalar(query), "API key")


async def tenant_model_names(db: AsyncSession, tenant: Tenant) -> set[str]:
    """The names of the models a key of this tenant may be limited to."""
    rows = await db.scalars(
        select(Model.name)
        .join(Provider, Provider.id == Model.provider_id)
        .where((Provider.tenant_id.is_(None)) | (Provider.tenant_id == tenant.id))
    )
    return set(rows)


async def spend_by_lineage(
    db: AsyncSession, periods: Iterable[str], now: datetime, tenant_id: uuid.UUID | None = None
) -> dict[tuple[uuid.UUID, str], int]:
    """Spend in the current period of each reset period, per lineage: {(lineage, period): micros}."""
    spent: dict[tuple[uuid.UUID, str], int] = {}
    for period in set(periods):
        start, end = period_bounds(period, now)
        query = select(UsageEvent.lineage_id, func.sum(UsageEvent.cost_micros)).where(
            UsageEvent.occurred_at >= start
        )
        if end is not None:
            query = query.where(UsageEvent.occurred_at < end)
        if tenant_id is not None:
            query = query.where(UsageEvent.tenant_id == tenant_id)
        for lineage, total in (await db.execute(query.group_by(UsageEvent.lineage_id))).all():
            spent[(lineage, period)] = int(total or 0)
    return spent


async def views_of(
    db: AsyncSession, keys: Sequence[ApiKey], now: datetime, tenant_id: uuid.UUID | None = None
) -> list[KeyView]:
    slugs: dict[uuid.UUID, str] = {}
    if keys:
        query = select(Tenant.id, Tenant.slug).where(Tenant.id.in_({k.tenant_id for k in keys}))
        slugs = {tenant_id: slug for tenant_id, slug in (await db.execute(query)).all()}
    spent = await spend_by_lineage(db, {k.reset_period for k in keys}, now, tenant_id)
    views = []
    for key in keys:
        start, end = period_bounds(key.reset_period, now)
        views.append(
            KeyView(
                key=key,
                tenant_slug=slugs.get(key.tenant_id, "?"),
                state=key_state(key, now),
                spent_micros=spent.get((key.lineage_id, key.reset_period), 0),
                period_start=start,
                period_end=end,
            )
        )
    return views


async def view_of(db: AsyncSession, key: ApiKey, now: datetime) -> KeyView:
    return (await views_of(db, [key], now, key.tenant_id))[0]


async def list_keys(
    db: AsyncSession, tenant: Tenant | None, *, now: datetime, filters: KeyFilter = ALL
) -> list[KeyView]:
    """Keys newest first (of one tenant, or of all), those the filter matches."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.name)
    if tenant is not None:
        query = query.where(ApiKey.tenant_id == tenant.id)
    views = await views_of(db, list(await db.scalars(query)), now, tenant.id if tenant else None)
    return filters.select(views)


def in_use(views: Iterable[KeyView]) -> list[KeyView]:
    """The keys that still matter to an operator: neither revoked nor replaced."""
    return [v for v in views if v.state not in RETIRED]


def older_than(views: Iterable[KeyView], now: datetime, age: timedelta) -> list[KeyView]:
    """The unrevoked keys created more than `age` ago (what revoking old keys would revoke)."""
    return [v for v in views if created_before(v.key, now, age)]
