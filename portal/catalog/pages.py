"""Provider and model pages: a tenant's providers and models; the platform's built-in catalogue."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.catalog import providers, services
from portal.catalog.deps import MODEL, PROVIDER, PathModel, PathProvider
from portal.catalog.schemas import CustomProviderForm, EnabledForm, ModelForm, ProviderForm
from portal.config import Settings
from portal.credentials.deps import WORK, Work
from portal.db.models import Model, Provider, Tenant
from portal.errors import InvalidInput, found
from portal.tenants.deps import CurrentTenant, provide_tenant_by_slug
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import requires_platform_admin, requires_tenant_admin, requires_tenant_member
from portal.web.templating import Confirmation, confirm_page, redirect_after_change, render, tenant_page

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


def _to_provider(
    request: Request[Any, Any, Any], tenant: Tenant, provider_id: uuid.UUID, message: str
) -> Response[Any]:
    """Back to the provider's page, with the message."""
    return redirect_after_change(request, f"/t/{tenant.slug}/providers/{provider_id}", message)


class ProviderPages(Controller):
    path = "/t/{slug:str}/providers"
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    async def _index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        tenant: Tenant,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        views = await services.providers_for_tenant(db, settings, tenant)
        context = tenant_page(tenant, "providers", providers=views, form=form or {}, errors=errors or {})
        return render(request, "providers/index.html", context, status_code=status_code)

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], db: Db, settings: CurrentSettings, tenant: CurrentTenant
    ) -> Response[Any]:
        return await self._index(request, db, settings, tenant)

    @post("/", guards=[requires_tenant_admin], dependencies=WORK)
    async def create(
        self, request: Request[Any, Any, Any], work: Work, data: Annotated[CustomProviderForm, FORM]
    ) -> Response[Any]:
        tenant = work.tenant
        try:
            provider = await providers.create_custom_provider_with_key(
                work,
                name=data.name,
                display_name=data.display_name,
                base_url=data.base_url,
                models=data.model_names(),
                api_key=data.api_key,
            )
        except InvalidInput as exc:
            form = {
                "name": data.name,
                "display_name": data.display_name,
                "base_url": data.base_url,
                "models": data.models,
            }
            return await self._index(request, work.db, work.settings, tenant, form, exc.errors, 400)
        return _to_provider(request, tenant, provider.id, f"Custom provider {provider.display_name} created.")

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        provider: Provider,
        errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        models = await services.models_for_tenant(db, tenant, provider)
        context = tenant_page(
            tenant, "providers", provider=provider, models=models, errors=errors or {}, form=form or {}
        )
        return render(request, "providers/detail.html", context, status_code=status_code)

    @get("/{provider_id:str}", dependencies=PROVIDER)
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant, provider: PathProvider
    ) -> Response[Any]:
        return await self._detail(request, db, tenant, provider)

    @post("/{provider_id:str}", guards=[requires_tenant_admin], dependencies=PROVIDER)
    async def update(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        provider: PathProvider,
        data: Annotated[ProviderForm, FORM],
    ) -> Response[Any]:
        form = {"display_name": data.display_name, "base_url": data.base_url}
        try:
            await providers.update_custom_provider(db, actor, tenant, provider, **form)
        except InvalidInput as exc:
            return await self._detail(request, db, tenant, provider, exc.errors, form, 400)
        return _to_provider(request, tenant, provider.id, "Provider saved.")

    @get("/{provider_id:str}/delete", guards=[requires_tenant_admin], dependencies=PROVIDER)
    async def confirm_delete(
        self, request: Request[Any, Any, Any], tenant: CurrentTenant, provider: PathProvider
    ) -> Response[Any]:
        here = f"/t/{tenant.slug}/providers/{provider.id}"
        confirm = Confirmation(
            title=f"Delete {provider.display_name}",
            question=f"Delete the provider {provider.display_name}?",
            detail="Its models, their settings and this tenant's credential for it are deleted too.",
            action=f"{here}/delete",
            button="Delete provider",
            cancel=here,
        )
        return confirm_page(request, confirm, **tenant_page(tenant, "providers"))

    @post("/{provider_id:str}/delete", guards=[requires_tenant_admin], dependencies=PROVIDER)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        provider: PathProvider,
    ) -> Response[Any]:
        name = provider.display_name
        await providers.delete_custom_provider(db, actor, tenant, provider)
        return redirect_after_change(request, f"/t/{tenant.slug}/providers", f"Provider {name} deleted.")

    @post("/{provider_id:str}/models", guards=[requires_tenant_admin], dependencies=PROVIDER)
    async def add_model(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        provider: PathProvider,
        data: Annotated[ModelForm, FORM],
    ) -> Response[Any]:
        try:
            model = await services.add_model(
                db, actor, tenant, provider, name=data.model_name, display_name=data.model_display_name
            )
        except InvalidInput as exc:
            errors = {"model_name": exc.errors.get("name") or exc.message}
            form = {"model_name": data.model_name}
            return await self._detail(request, db, tenant, provider, errors, form, 400)
        return _to_provider(request, tenant, provider.id, f"Model {model.name} added and enabled.")

    @post("/models/{model_id:str}/enabled", guards=[requires_tenant_admin], dependencies=MODEL)
    async def set_enabled(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        model: PathModel,
        data: Annotated[EnabledForm, FORM],
    ) -> Response[Any]:
        enabled = data.enabled == "true"
        await services.set_model_enabled(db, actor, tenant, model, enabled)
        done = f"Model {model.name} {'enabled' if enabled else 'disabled'} for {tenant.name}."
        return _to_provider(request, tenant, model.provider_id, done)

    @post("/models/{model_id:str}/delete", guards=[requires_tenant_admin], dependencies=MODEL)
    async def delete_model(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        model: PathModel,
    ) -> Response[Any]:
        provider_id, name = model.provider_id, model.name
        await services.delete_model(db, actor, tenant, model)
        return _to_provider(request, tenant, provider_id, f"Model {name} deleted.")


class CatalogPages(Controller):
    path = "/admin/catalog"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db: Db) -> Response[Any]:
        return render(
            request,
            "catalog/index.html",
            {"nav": "catalog", "providers": await services.builtin_providers(db)},
        )

    @post("/providers/{provider_id:uuid}/remove")
    async def remove_provider(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, provider_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        provider = await db.get(Provider, provider_id)
        provider = found(provider if provider is not None and provider.is_builtin else None, "Provider")
        name = provider.display_name
        await services.remove_builtin(db, actor, provider, None)
        return redirect_after_change(
            request, "/admin/catalog", f"{name} removed from the catalogue for every tenant."
        )

    @post("/models/{model_id:uuid}/remove")
    async def remove_model(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, model_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        model = await db.scalar(
            select(Model).where(Model.id == model_id).options(selectinload(Model.provider))
        )
        model = found(model if model is not None and model.provider.is_builtin else None, "Model")
        name = model.name
        await services.remove_builtin(db, actor, model.provider, model)
        return redirect_after_change(
            request, "/admin/catalog", f"Model {name} removed from the catalogue for every tenant."
        )
