"""Audit log pages (one tenant's, for its admins; all tenants', for platform admins) and CSV export.
The same reading as JSON: portal.audit.api."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import queries
from portal.audit.filters import PLATFORM_FILTER, TENANT_FILTER, AuditQuery
from portal.errors import InvalidInput
from portal.tenants.deps import PageCtx, page_of
from portal.web.deps import Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin
from portal.web.paging import Paged, Paging, paging_of
from portal.web.templating import render

TEMPLATE = "audit/index.html"
PAGES = paging_of(per_page=50)


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
    paging: Paging,
    context: dict[str, Any],
) -> Response[Any]:
    result = await queries.search(db, f, page=paging.page, per_page=paging.per_page)
    return render(
        request,
        TEMPLATE,
        {
            **context,
            "result": result,
            "filters": f.raw,
            "errors": f.errors,
            "qs": f.query_string(),
            "slugs": await queries.tenant_slugs(db, result.items),
        },
        status_code=400 if f.errors else 200,
    )


class TenantAuditPages(Controller):
    path = "/t/{slug:str}/audit"
    guards = [requires_tenant_admin]
    dependencies = {**page_of("audit"), **TENANT_FILTER, **PAGES}
    include_in_schema = False

    @get("/")
    async def index(self, ctx: PageCtx, audit_filter: AuditQuery, paging: Paged) -> Response[Any]:
        context = ctx.context(base_url=f"{ctx.url}/audit")
        return await _page(ctx.request, ctx.db, audit_filter, paging, context)

    @get("/csv")
    async def export(self, ctx: PageCtx, audit_filter: AuditQuery) -> Stream:
        return _csv(ctx.request, audit_filter, ctx.tenant.slug)


class AdminAuditPages(Controller):
    path = "/admin/audit"
    guards = [requires_platform_admin]
    dependencies = {**PLATFORM_FILTER, **PAGES}
    include_in_schema = False

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], db: Db, audit_filter: AuditQuery, paging: Paged
    ) -> Response[Any]:
        context = {"nav": "audit", "base_url": "/admin/audit", "platform": True}
        return await _page(request, db, audit_filter, paging, context)

    @get("/csv")
    async def export(self, request: Request[Any, Any, Any], audit_filter: AuditQuery) -> Stream:
        return _csv(request, audit_filter, "all")
