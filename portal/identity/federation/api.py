"""JSON API: /api/v1/sysadmin/tenants/{tenant_id}/federation (platform admins and the tenant's admins)."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import JSONBody

from portal.errors import NotFound
from portal.identity.federation import discovery, eneo, services
from portal.identity.federation.schemas import (
    DiscoveryOut,
    DiscoveryTestIn,
    FederationDeleted,
    FederationIn,
    FederationOut,
)
from portal.tenants.deps import CurrentTenant, provide_tenant_by_id
from portal.web.deps import CurrentActor, CurrentSettings, Db, Http, TheVault
from portal.web.guards import requires_tenant_admin
from portal.web.openapi import CHANGE, READ


class FederationApi(Controller):
    path = "/api/v1/sysadmin/tenants/{tenant_id:str}/federation"
    tags = ["federation"]
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_id)}

    @get("/", summary="The tenant's identity provider settings (client secret masked)", responses=READ)
    async def get_federation(
        self, db: Db, vault: TheVault, settings: CurrentSettings, tenant: CurrentTenant
    ) -> FederationOut:
        view = await services.get_federation(db, vault, settings, tenant)
        if view is None:
            raise NotFound(services.NO_SETTINGS)
        return FederationOut.of(view)

    @put("/", summary="Create or replace the tenant's identity provider settings", responses=CHANGE)
    async def put_federation(
        self,
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        http: Http,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: JSONBody[FederationIn],
    ) -> FederationOut:
        submitted = await eneo.submitted(http, settings, data.to_input(), data.eneo())
        view = await services.save_federation(
            db, vault, settings, actor, tenant, submitted.data, frontend_url=submitted.frontend_url
        )
        return FederationOut.of(view)

    @delete(
        "/",
        status_code=200,
        summary="Remove the tenant's identity provider settings (single sign-on stops)",
        responses=CHANGE,
    )
    async def delete_federation(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant
    ) -> FederationDeleted:
        await services.delete_federation(db, actor, tenant)
        return FederationDeleted(tenant.id, "Federation config deleted successfully")

    @post(
        "/test",
        status_code=200,
        summary="Fetch the provider's discovery document and report",
        responses=CHANGE,
    )
    async def test_discovery(
        self,
        db: Db,
        settings: CurrentSettings,
        http: Http,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: JSONBody[DiscoveryTestIn | None] = None,
    ) -> DiscoveryOut:
        report = await discovery.test_discovery(
            db, settings, http, actor, tenant, issuer=data.issuer if data else None
        )
        return DiscoveryOut.of(report)
