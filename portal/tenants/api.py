"""JSON API: /api/v1/sysadmin/tenants."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody

from portal.tenants import services
from portal.tenants.deps import (
    CurrentTenant,
    provide_tenant_by_id,
    shred_deleted_tenant,
    shred_once_committed,
)
from portal.tenants.schemas import MonthlyLimitIn, TenantCreate, TenantList, TenantOut, TenantUpdate
from portal.web.deps import CurrentActor, Db, TheVault
from portal.web.guards import requires_platform_admin
from portal.web.openapi import CHANGE, READ, errors
from portal.web.paging import PAGING, Paged


class TenantsApi(Controller):
    path = "/api/v1/sysadmin/tenants"
    tags = ["tenants"]
    guards = [requires_platform_admin]

    @get("/", dependencies=PAGING, responses=errors(400, 401, 403, 429))
    async def list_tenants(
        self, db: Db, paging: Paged, q: FromQuery[str] = "", status: FromQuery[str | None] = None
    ) -> TenantList:
        result = await services.list_tenants(
            db, q=q, status=status, page=paging.page, per_page=paging.per_page
        )
        return TenantList([TenantOut.of(t) for t in result.items], result.total, result.page, result.per_page)

    @post("/", responses=errors(400, 401, 403, 409, 429))
    async def create_tenant(
        self, db: Db, vault: TheVault, actor: CurrentActor, data: JSONBody[TenantCreate]
    ) -> TenantOut:
        new = data.new_tenant()
        tenant = await services.create_tenant(
            db, vault, actor, name=new.name, slug=new.slug, status=new.status, slug_from=new.slug_from
        )
        return TenantOut.of(tenant)

    @get("/{tenant_id:str}", dependencies={"tenant": Provide(provide_tenant_by_id)}, responses=READ)
    async def get_tenant(self, tenant: CurrentTenant) -> TenantOut:
        return TenantOut.of(tenant)

    @put("/{tenant_id:str}", responses=CHANGE)
    async def update_tenant(
        self, db: Db, actor: CurrentActor, tenant_id: FromPath[str], data: JSONBody[TenantUpdate]
    ) -> TenantOut:
        tenant = await services.update_tenant(
            db, actor, tenant_id, name=data.name, slug=data.slug, status=data.status
        )
        return TenantOut.of(tenant)

    @put(
        "/{tenant_id:str}/monthly-limit",
        dependencies={"tenant": Provide(provide_tenant_by_id)},
        responses=CHANGE,
        summary="Set the tenant's monthly spend limit (platform admins only)",
    )
    async def set_monthly_limit(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant, data: JSONBody[MonthlyLimitIn]
    ) -> TenantOut:
        return TenantOut.of(await services.set_monthly_limit(db, actor, tenant, data.monthly_limit_usd))

    @delete("/{tenant_id:str}", responses=CHANGE, after_response=shred_deleted_tenant)
    async def delete_tenant(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, tenant_id: FromPath[str]
    ) -> None:
        shred_once_committed(request, await services.delete_tenant(db, actor, tenant_id))
