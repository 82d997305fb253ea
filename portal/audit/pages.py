"""Audit log pages (one tenant's, for its admins; all tenants', for platform admins), CSV export,
and the same reading as JSON."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import queries
from portal.db.models import AuditEvent, Tenant
from portal.errors import InvalidInput, NotFound
from portal.tenants.deps import provide_tenant_by_id, provide_tenant_by_slug
from portal.tenants.services import find_tenant
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.openapi import READ
from portal.web.paging import page_parameter, per_page_parameter
from portal.web.templating import render

TEMPLATE = "audit/index.html"
PER_PAGE = 50


@dataclass(frozen=True)
class FilterFields:
    """The audit filters every page, export and JSON listing takes from its query string."""

    action: str
    actor: str
    target: str
    since: str
    until: str

    def for_tenant(self, tenant_id: uuid.UUID | None) -> queries.AuditFilter:
        return queries.make_filter(tenant_id=tenant_id, **asdict(self))


def provide_filter_fields(
    action: str = Parameter(default="", description="Prefix of the action, e.g. invitation."),
    who: str = Parameter(
        query="actor", default="", description="Part of the actor's or impersonator's e-mail"
    ),
    target: str = Parameter(default="", description="Part of the target"),
    since: str = Parameter(default="", description="From (UTC): 2026-01-31 or 2026-01-31T14:30"),
    until: str = Parameter(default="", description="Until (UTC, exclusive; a date means to its end)"),
) -> FilterFields:
    return FilterFields(action, who, target, since, until)


FILTERS = {"fields": Provide(provide_filter_fields, sync_to_thread=False)}


def _csv(request: Request[Any, Any, Any], f: queries.AuditFilter, scope: str) -> Stream:
    if f.errors:
        raise InvalidInput(f.errors)
    return Stream(
        queries.export_csv(request.app.state.portal.sessions, f),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{queries.csv_filename(scope)}"'},
    )


async def _page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    f: queries.AuditFilter,
    page: int,
    context: dict[str, Any],
) -> Response[Any]:
    result = await queries.search(db, f, page=page, per_page=PER_PAGE)
    slugs = await queries.tenant_slugs(db, result.items)
    return render(
        request,
        TEMPLATE,
        {
            **context,
            "result": result,
            "filters": f.raw,
            "errors": f.errors,
            "qs": f.query_string(),
            "slugs": slugs,
        },
        status_code=400 if f.errors else 200,
    )


class TenantAuditPages(Controller):
    path = "/t/{slug:str}/audit"
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_slug), **FILTERS}
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        fields: FilterFields,
        page: int = page_parameter(),
    ) -> Response[Any]:
        f = fields.for_tenant(tenant.id)
        context = {"tenant": tenant, "tab": "audit", "base_url": f"/t/{tenant.slug}/audit"}
        return await _page(request, db, f, page, context)

    @get("/csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        tenant: Tenant,
        fields: FilterFields,
    ) -> Stream:
        return _csv(request, fields.for_tenant(tenant.id), tenant.slug)


async def _platform_filter(db: AsyncSession, tenant: str, fields: FilterFields) -> queries.AuditFilter:
    """The filters, across tenants or for the one named by id or slug."""
    ref, tenant_id, error = tenant.strip(), None, None
    if ref:
        try:
            tenant_id = (await find_tenant(db, ref)).id
        except NotFound:
            try:  # events outlive their tenant: a deleted tenant's id still filters
                tenant_id = uuid.UUID(ref)
            except ValueError:
                tenant_id, error = uuid.UUID(int=0), f"no tenant {ref}"
    f = fields.for_tenant(tenant_id)
    f.raw["tenant"] = ref
    if error:
        f.errors["tenant"] = error
    return f


class AdminAuditPages(Controller):
    path = "/admin/audit"
    guards = [requires_platform_admin]
    dependencies = FILTERS
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        fields: FilterFields,
        tenant: str = "",
        page: int = page_parameter(),
    ) -> Response[Any]:
        f = await _platform_filter(db, tenant, fields)
        context = {"nav": "audit", "base_url": "/admin/audit", "platform": True}
        return await _page(request, db, f, page, context)

    @get("/csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        fields: FilterFields,
        tenant: str = "",
    ) -> Stream:
        f = await _platform_filter(db, tenant, fields)
        return _csv(request, f, "all")


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


async def _api_list(db: AsyncSession, f: queries.AuditFilter, page: int, per_page: int) -> AuditEventList:
    if f.errors:
        raise InvalidInput(f.errors)
    result = await queries.search(db, f, page=page, per_page=per_page)
    return AuditEventList(
        [AuditEventOut.of(e) for e in result.items], result.total, result.page, result.per_page
    )


class TenantAuditApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}/audit"
    tags = ["audit"]
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_id), **FILTERS}

    @get("/", responses=READ)
    async def list_events(
        self,
        db: AsyncSession,
        tenant: Tenant,
        fields: FilterFields,
        page: int = page_parameter(),
        per_page: int = per_page_parameter(),
    ) -> AuditEventList:
        """The tenant's audit events, newest first (platform admins' impersonation included)."""
        return await _api_list(db, fields.for_tenant(tenant.id), page, per_page)


class AdminAuditApi(Controller):
    path = "/api/v1/admin/audit"
    tags = ["audit"]
    guards = [requires_platform_admin]
    dependencies = FILTERS

    @get("/", responses=READ)
    async def list_events(
        self,
        db: AsyncSession,
        fields: FilterFields,
        tenant: str = Parameter(default="", description="A tenant's id or slug"),
        page: int = page_parameter(),
        per_page: int = per_page_parameter(),
    ) -> AuditEventList:
        """Every audit event, newest first."""
        f = await _platform_filter(db, tenant, fields)
        return await _api_list(db, f, page, per_page)
