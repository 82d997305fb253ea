"""Audit log pages (one tenant's, for its admins; all tenants', for platform admins), CSV export,
and the same reading as JSON."""

from __future__ import annotations

import uuid
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
from portal.web.templating import render

TEMPLATE = "audit/index.html"
PER_PAGE = 50


def _filter(
    tenant_id: uuid.UUID | None, action: str, actor: str, target: str, since: str, until: str
) -> queries.AuditFilter:
    return queries.make_filter(
        tenant_id=tenant_id, action=action, actor=actor, target=target, since=since, until=until
    )


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
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        action: str = "",
        who: str = Parameter(query="actor", default=""),
        target: str = "",
        since: str = "",
        until: str = "",
        page: int = Parameter(default=1, ge=1),
    ) -> Response[Any]:
        f = _filter(tenant.id, action, who, target, since, until)
        context = {"tenant": tenant, "tab": "audit", "base_url": f"/t/{tenant.slug}/audit"}
        return await _page(request, db, f, page, context)

    @get("/csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        tenant: Tenant,
        action: str = "",
        who: str = Parameter(query="actor", default=""),
        target: str = "",
        since: str = "",
        until: str = "",
    ) -> Stream:
        return _csv(request, _filter(tenant.id, action, who, target, since, until), tenant.slug)


async def _tenant_filter(db: AsyncSession, tenant: str) -> tuple[uuid.UUID | None, dict[str, str]]:
    if not tenant.strip():
        return None, {}
    try:
        return (await find_tenant(db, tenant.strip())).id, {}
    except NotFound:
        try:  # events outlive their tenant: a deleted tenant's id still filters
            return uuid.UUID(tenant.strip()), {}
        except ValueError:
            return uuid.UUID(int=0), {"tenant": f"no tenant {tenant.strip()}"}


class AdminAuditPages(Controller):
    path = "/admin/audit"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: str = "",
        action: str = "",
        who: str = Parameter(query="actor", default=""),
        target: str = "",
        since: str = "",
        until: str = "",
        page: int = Parameter(default=1, ge=1),
    ) -> Response[Any]:
        tenant_id, errors = await _tenant_filter(db, tenant)
        f = _filter(tenant_id, action, who, target, since, until)
        f.raw["tenant"] = tenant.strip()
        f.errors.update(errors)
        context = {"nav": "audit", "base_url": "/admin/audit", "platform": True}
        return await _page(request, db, f, page, context)

    @get("/csv")
    async def export(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: str = "",
        action: str = "",
        who: str = Parameter(query="actor", default=""),
        target: str = "",
        since: str = "",
        until: str = "",
    ) -> Stream:
        tenant_id, errors = await _tenant_filter(db, tenant)
        f = _filter(tenant_id, action, who, target, since, until)
        f.errors.update(errors)
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
    dependencies = {"tenant": Provide(provide_tenant_by_id)}

    @get("/")
    async def list_events(
        self,
        db: AsyncSession,
        tenant: Tenant,
        action: str = Parameter(default="", description="Prefix of the action, e.g. invitation."),
        who: str = Parameter(
            query="actor", default="", description="Part of the actor's or impersonator's e-mail"
        ),
        target: str = Parameter(default="", description="Part of the target"),
        since: str = Parameter(default="", description="From (UTC): 2026-01-31 or 2026-01-31T14:30"),
        until: str = Parameter(default="", description="Until (UTC, exclusive; a date means to its end)"),
        page: int = Parameter(default=1, ge=1),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> AuditEventList:
        """The tenant's audit events, newest first (platform admins' impersonation included)."""
        return await _api_list(db, _filter(tenant.id, action, who, target, since, until), page, per_page)


class AdminAuditApi(Controller):
    path = "/api/v1/admin/audit"
    tags = ["audit"]
    guards = [requires_platform_admin]

    @get("/")
    async def list_events(
        self,
        db: AsyncSession,
        tenant: str = Parameter(default="", description="A tenant's id or slug"),
        action: str = Parameter(default="", description="Prefix of the action, e.g. invitation."),
        who: str = Parameter(
            query="actor", default="", description="Part of the actor's or impersonator's e-mail"
        ),
        target: str = Parameter(default="", description="Part of the target"),
        since: str = Parameter(default="", description="From (UTC): 2026-01-31 or 2026-01-31T14:30"),
        until: str = Parameter(default="", description="Until (UTC, exclusive; a date means to its end)"),
        page: int = Parameter(default=1, ge=1),
        per_page: int = Parameter(default=50, ge=1, le=200),
    ) -> AuditEventList:
        """Every audit event, newest first."""
        tenant_id, errors = await _tenant_filter(db, tenant)
        f = _filter(tenant_id, action, who, target, since, until)
        f.errors.update(errors)
        return await _api_list(db, f, page, per_page)
