"""JSON API: a tenant's providers and models."""

from __future__ import annotations

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.catalog import services
from portal.catalog.schemas import (
    CustomProviderCreate,
    ModelCreate,
    ModelEnablement,
    ModelOut,
    ProviderOut,
    ProviderUpdate,
)
from portal.config import Settings
from portal.credentials.services import create_custom_provider_with_key, update_provider
from portal.crypto.vault import Vault
from portal.db.models import Tenant
from portal.tenants.deps import provide_tenant_by_id
from portal.web.guards import requires_tenant_admin, requires_tenant_member
from portal.web.openapi import CHANGE, READ


class ProvidersApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}/providers"
    tags = ["providers"]
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_id)}

    @get("/", responses=READ)
    async def list_providers(self, db: AsyncSession, settings: Settings, tenant: Tenant) -> list[ProviderOut]:
        views = await services.providers_for_tenant(db, settings, tenant)
        return [ProviderOut.of(v, settings.strict_credentials) for v in views]

    @get("/with-keys", responses=READ)
    async def providers_with_keys(
        self, db: AsyncSession, settings: Settings, tenant: Tenant
    ) -> list[ProviderOut]:
        views = await services.providers_for_tenant(db, settings, tenant)
        return [ProviderOut.of(v, settings.strict_credentials) for v in views if v.has_api_key]

    @post("/", guards=[requires_tenant_admin], responses=CHANGE)
    async def create_provider(
        self,
        db: AsyncSession,
        vault: Vault,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        data: CustomProviderCreate,
    ) -> ProviderOut:
        provider = await create_custom_provider_with_key(
            db,
            vault,
            settings,
            actor,
            tenant,
            name=data.name,
            display_name=data.display_name,
            base_url=data.base_url,
            models=data.models,
            api_key=data.api_key,
        )
        return await self._one(db, settings, tenant, str(provider.id))

    @put("/{provider_id:str}", guards=[requires_tenant_admin], responses=CHANGE)
    async def update_provider(
        self,
        db: AsyncSession,
        vault: Vault,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        provider_id: str,
        data: ProviderUpdate,
    ) -> ProviderOut:
        provider = await services.find_provider(db, tenant, provider_id)
        await update_provider(
            db,
            vault,
            settings,
            actor,
            tenant,
            provider,
            api_key=data.api_key,
            display_name=data.display_name,
            base_url=data.base_url,
        )
        return await self._one(db, settings, tenant, str(provider.id))

    @delete("/{provider_id:str}", guards=[requires_tenant_admin], responses=CHANGE)
    async def delete_provider(self, db: AsyncSession, actor: Actor, tenant: Tenant, provider_id: str) -> None:
        provider = await services.find_provider(db, tenant, provider_id)
        await services.delete_custom_provider(db, actor, tenant, provider)

    @get("/{provider_id:str}/models", responses=READ)
    async def list_models(self, db: AsyncSession, tenant: Tenant, provider_id: str) -> list[ModelOut]:
        provider = await services.find_provider(db, tenant, provider_id)
        return [ModelOut.of(v) for v in await services.models_for_tenant(db, tenant, provider)]

    @post("/{provider_id:str}/models", guards=[requires_tenant_admin], responses=CHANGE)
    async def add_model(
        self, db: AsyncSession, actor: Actor, tenant: Tenant, provider_id: str, data: ModelCreate
    ) -> ModelOut:
        provider = await services.find_provider(db, tenant, provider_id)
        model = await services.add_model(
            db, actor, tenant, provider, name=data.name, display_name=data.display_name
        )
        return ModelOut.of(services.ModelView(model, True))

    @delete("/models/{model_id:str}", guards=[requires_tenant_admin], responses=CHANGE)
    async def delete_model(self, db: AsyncSession, actor: Actor, tenant: Tenant, model_id: str) -> None:
        model = await services.find_model(db, tenant, model_id)
        await services.delete_model(db, actor, tenant, model)

    @put("/models/{model_id:str}", guards=[requires_tenant_admin], responses=CHANGE)
    async def set_model_enabled(
        self, db: AsyncSession, actor: Actor, tenant: Tenant, model_id: str, data: ModelEnablement
    ) -> ModelOut:
        model = await services.find_model(db, tenant, model_id)
        await services.set_model_enabled(db, actor, tenant, model, data.enabled)
        return ModelOut.of(services.ModelView(model, data.enabled))

    async def _one(
        self, db: AsyncSession, settings: Settings, tenant: Tenant, provider_id: str
    ) -> ProviderOut:
        views = await services.providers_for_tenant(db, settings, tenant)
        view = next(v for v in views if str(v.provider.id) == provider_id)
        return ProviderOut.of(view, settings.strict_credentials)
