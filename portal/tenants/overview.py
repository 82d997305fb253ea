"""What a tenant's overview page shows: one read per section, each from the query its own page uses.

Members and pending invitations, the credentials' last tests (with the providers and where each key
comes from), the keys in use and those near their limit, this month's spend, the last audit events.
The sections a viewer may not open (members, audit: tenant admins only) are not read for them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.periods import period_bounds
from portal.apikeys.queries import list_keys
from portal.apikeys.rules import KeyView
from portal.audit.queries import AuditFilter, search
from portal.catalog.services import ProviderView, providers_for_tenant
from portal.config import Settings
from portal.credentials.services import CredentialView, list_credentials
from portal.crypto.vault import Vault
from portal.db.models import AuditEvent, Tenant
from portal.db.models.apikeys import ResetPeriod
from portal.members.invitations import list_pending_invitations
from portal.members.memberships import list_members
from portal.usage.services import usage_report

RECENT_EVENTS = 5


@dataclass(frozen=True)
class MembersSummary:
    admins: int
    members: int
    pending_invitations: int

    @property
    def total(self) -> int:
        return self.admins + self.members


@dataclass(frozen=True)
class SpendSummary:
    since: datetime
    until: datetime | None
    cost_micros: int
    requests: int


@dataclass(frozen=True)
class Overview:
    providers: list[ProviderView]
    credentials: dict[str, CredentialView]
    active_keys: list[KeyView]
    spend: SpendSummary
    members: MembersSummary | None = None  # None: the viewer may not see the tenant's members
    recent_events: list[AuditEvent] = field(default_factory=list)

    @property
    def keys_near_limit(self) -> list[KeyView]:
        return [v for v in self.active_keys if v.warning]

    @property
    def failing(self) -> list[CredentialView]:
        return [c for c in self.credentials.values() if c.last_test_at and not c.last_test_ok]


async def members_summary(db: AsyncSession, tenant: Tenant) -> MembersSummary:
    roles = Counter(m.role for m in await list_members(db, tenant.id))
    pending = await list_pending_invitations(db, tenant.id)
    return MembersSummary(roles["admin"], sum(roles.values()) - roles["admin"], len(pending))


async def spend_this_month(db: AsyncSession, tenant: Tenant, now: datetime) -> SpendSummary:
    """The tenant's spend since the first of this month (UTC), all keys together."""
    since, until = period_bounds(ResetPeriod.MONTHLY, now)
    rows = await usage_report(db, since, until or now, tenant=tenant)
    return SpendSummary(since, until, sum(r.cost_micros for r in rows), sum(r.requests for r in rows))


async def tenant_overview(
    db: AsyncSession, settings: Settings, vault: Vault, tenant: Tenant, *, now: datetime, manager: bool
) -> Overview:
    """The overview of `tenant`; `manager` (a tenant admin or platform admin) adds members and audit."""
    keys = await list_keys(db, tenant, now=now)
    overview = Overview(
        providers=await providers_for_tenant(db, settings, tenant),
        credentials={c.provider: c for c in await list_credentials(db, vault, tenant)},
        active_keys=[v for v in keys if v.usable],
        spend=await spend_this_month(db, tenant, now),
    )
    if not manager:
        return overview
    events = await search(db, AuditFilter(tenant_id=tenant.id), per_page=RECENT_EVENTS)
    return Overview(
        overview.providers,
        overview.credentials,
        overview.active_keys,
        overview.spend,
        members=await members_summary(db, tenant),
        recent_events=list(events.items),
    )
