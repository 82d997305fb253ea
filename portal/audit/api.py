"""JSON API: the audit log of one tenant (its admins) and of all tenants (platform admins)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import queries
from portal.audit.filters import PLATFORM_FILTER, TENANT_FILTER, AuditQuery
from portal.db.models import AuditEvent
from portal.errors import InvalidInput
from portal.tenants.deps import provide_tenant_by_id
from portal.web.deps import Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.openapi import READ
from portal.web.paging import PAGING, Paged, Paging


class AuditEventOut(msgspec.Struct):
    id: int
    at: datetime
    actor: str
    impersonator: str | None
    tenant_id: uuid.UUID | None
    action: str
    target: str
    outcome: str
    ip: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, e: AuditEvent) -> AuditEventOut:
        return cls(
            e.id, e.at, e.actor, e.impersonator, e.tenant_id, e.action, e.target, e.outcome, e.ip, e.details
        )


class AuditEventList(msgspec.Struct):
    events: list[AuditEventOut]
    total: int
    page: int
    per_page: int


async def _api_list(db: AsyncSession, f: queries.AuditFilter, paging: Paging) -> AuditEventList:
    if f.errors:
        raise InvalidInput(f.errors)
    result = await queries.search(db, f, page=paging.page, per_page=paging.per_page)
    return AuditEventList(
        [AuditEventOut.of(e) for e in result.items], result.total, result.page, result.per_page
    )


class TenantAuditApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}/audit"
    tags = ["audit"]
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_id), **TENANT_FILTER, **PAGING}

    @get("/", responses=READ)
    async def list_events(self, db: Db, audit_filter: AuditQuery, paging: Paged) -> AuditEventList:
        """The tenant's audit events, newest first (platform admins' impersonation included)."""
        return await _api_list(db, audit_filter, paging)


class AdminAuditApi(Controller):
    path = "/api/v1/admin/audit"
    tags = ["audit"]
    guards = [requires_platform_admin]
    dependencies = {**PLATFORM_FILTER, **PAGING}

    @get("/", responses=READ)
    async def list_events(self, db: Db, audit_filter: AuditQuery, paging: Paged) -> AuditEventList:
        """Every audit event, newest first."""
        return await _api_list(db, audit_filter, paging)
