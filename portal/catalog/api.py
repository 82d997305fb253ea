"""JSON API: a tenant's providers and models."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from portal.catalog import pricing, providers, services
from portal.catalog.deps import MODEL, PROVIDER, PathModel, PathProvider
from portal.catalog.schemas import (
    CatalogProviderOut,
    CustomProviderCreate,
    ModelCreate,
    ModelEnablement,
    ModelOut,
    PricedModelOut,
    PricesIn,
    ProviderOut,
    ProviderUpdate,
)
from portal.credentials.deps import WORK, Work
from portal.credentials.services import CredentialWork
from portal.db.models import Provider
from portal.tenants.deps import CurrentTenant, provide_tenant_by_id
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin, requires_tenant_member
from portal.web.openapi import CHANGE, READ

ADMIN = [requires_tenant_admin]


class ProvidersApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}/providers"
    tags = ["providers"]
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_id)}

    @get("/", responses=READ)
    async def list_providers(
        self, db: Db, settings: CurrentSettings, tenant: CurrentTenant
    ) -> list[ProviderOut]:
        views = await services.providers_for_tenant(db, settings, tenant)
        return [ProviderOut.of(v, settings.strict_credentials) for v in views]

    @get("/with-keys", responses=READ)
    async def providers_with_keys(
        self, db: Db, settings: CurrentSettings, tenant: CurrentTenant
    ) -> list[ProviderOut]:
        views = await services.providers_for_tenant(db, settings, tenant)
        return [ProviderOut.of(v, settings.strict_credentials) for v in views if v.has_api_key]

    @post("/", guards=ADMIN, dependencies=WORK, responses=CHANGE)
    async def create_provider(self, work: Work, data: JSONBody[CustomProviderCreate]) -> ProviderOut:
        provider = await providers.create_custom_provider_with_key(
            work,
            name=data.name,
            display_name=data.display_name,
            base_url=data.base_url,
            models=data.models,
            api_key=data.api_key,
        )
        return await self._one(work, provider)

    @put("/{provider_id:str}", guards=ADMIN, dependencies={**PROVIDER, **WORK}, responses=CHANGE)
    async def update_provider(
        self, work: Work, provider: PathProvider, data: JSONBody[ProviderUpdate]
    ) -> ProviderOut:
        changes = {"display_name": data.display_name, "base_url": data.base_url}
        await providers.update_provider(work, provider, api_key=data.api_key, **changes)
        return await self._one(work, provider)

    @delete("/{provider_id:str}", guards=ADMIN, dependencies=PROVIDER, responses=CHANGE)
    async def delete_provider(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant, provider: PathProvider
    ) -> None:
        await providers.delete_custom_provider(db, actor, tenant, provider)

    @get("/{provider_id:str}/models", dependencies=PROVIDER, responses=READ)
    async def list_models(self, db: Db, tenant: CurrentTenant, provider: PathProvider) -> list[ModelOut]:
        return [ModelOut.of(v) for v in await services.models_for_tenant(db, tenant, provider)]

    @post("/{provider_id:str}/models", guards=ADMIN, dependencies=PROVIDER, responses=CHANGE)
    async def add_model(
        self,
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        provider: PathProvider,
        data: JSONBody[ModelCreate],
    ) -> ModelOut:
        model = await services.add_model(
            db, actor, tenant, provider, name=data.name, display_name=data.display_name
        )
        return ModelOut.of(services.ModelView(model, True))

    @delete("/models/{model_id:str}", guards=ADMIN, dependencies=MODEL, responses=CHANGE)
    async def delete_model(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant, model: PathModel
    ) -> None:
        await services.delete_model(db, actor, tenant, model)

    @put("/models/{model_id:str}", guards=ADMIN, dependencies=MODEL, responses=CHANGE)
    async def set_model_enabled(
        self,
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        model: PathModel,
        data: JSONBody[ModelEnablement],
    ) -> ModelOut:
        await services.set_model_enabled(db, actor, tenant, model, data.enabled)
        return ModelOut.of(services.ModelView(model, data.enabled))

    @put("/models/{model_id:str}/prices", guards=ADMIN, dependencies=MODEL, responses=CHANGE)
    async def set_model_prices(
        self, db: Db, actor: CurrentActor, tenant: CurrentTenant, model: PathModel, data: JSONBody[PricesIn]
    ) -> ModelOut:
        """A custom model's prices (built-in models are priced by the platform's admins)."""
        await pricing.set_model_prices(db, actor, model, tenant=tenant, **data.prices())
        return ModelOut.of(services.ModelView(model, await services.model_enabled(db, tenant, model)))

    async def _one(self, work: CredentialWork, provider: Provider) -> ProviderOut:
        views = await services.providers_for_tenant(work.db, work.settings, work.tenant)
        view = next(v for v in views if v.provider.id == provider.id)
        return ProviderOut.of(view, work.settings.strict_credentials)


class CatalogApi(Controller):
    """The platform's built-in catalogue and its prices (platform admins)."""

    path = "/api/v1/sysadmin/catalog"
    tags = ["catalogue"]
    guards = [requires_platform_admin]

    @get("/", responses=READ)
    async def list_catalog(self, db: Db) -> list[CatalogProviderOut]:
        return [CatalogProviderOut.of(p) for p in await services.builtin_providers(db)]

    @put("/models/{model_id:str}/prices", responses=CHANGE)
    async def set_prices(
        self, db: Db, actor: CurrentActor, model_id: FromPath[str], data: JSONBody[PricesIn]
    ) -> PricedModelOut:
        """A built-in model's prices; the start-up sync keeps them from then on."""
        model = await services.find_builtin_model(db, model_id)
        await pricing.set_model_prices(db, actor, model, tenant=None, **data.prices())
        return PricedModelOut.of_model(model)

    @post("/models/{model_id:str}/prices/reset", status_code=200, responses=CHANGE)
    async def reset_prices(self, db: Db, actor: CurrentActor, model_id: FromPath[str]) -> PricedModelOut:
        """Back to the shipped list prices (the start-up sync updates them again)."""
        model = await services.find_builtin_model(db, model_id)
        return PricedModelOut.of_model(await pricing.reset_model_prices(db, actor, model))
