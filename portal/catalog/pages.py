"""Provider and model pages: a tenant's providers and models; the platform's built-in catalogue."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.catalog import providers, services
from portal.catalog.deps import MODEL, PROVIDER, PathModel, PathProvider
from portal.catalog.schemas import CustomProviderForm, EnabledForm, ModelForm, ProviderForm
from portal.credentials.deps import WORK, Work
from portal.db.models import Model, Provider
from portal.errors import InvalidInput, found
from portal.tenants.deps import Page, page_of
from portal.web.deps import CurrentActor, Db
from portal.web.forms import Form
from portal.web.guards import ADMIN, requires_platform_admin, requires_tenant_member
from portal.web.templating import Confirmation, TenantPage, redirect_after_change, render


def _form_of(data: CustomProviderForm) -> dict[str, str]:
    """What the custom-provider form shows again after a problem (never the API key)."""
    return {
        "name": data.name,
        "display_name": data.display_name,
        "base_url": data.base_url,
        "models": data.models,
    }


async def _index(
    page: TenantPage, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response[Any]:
    views = await services.providers_for_tenant(page.db, page.settings, page.tenant)
    return page.form("providers/index.html", errors, providers=views, form=form or {})


async def _detail(
    page: TenantPage,
    provider: Provider,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    models = await services.models_for_tenant(page.db, page.tenant, provider)
    return page.form("providers/detail.html", errors, provider=provider, models=models, form=form or {})


def _to_provider(page: TenantPage, provider_id: uuid.UUID, message: str) -> Response[Any]:
    """Back to the provider's page, with the message."""
    return page.redirect(f"/providers/{provider_id}", message)


class ProviderPages(Controller):
    path = "/t/{slug:str}/providers"
    guards = [requires_tenant_member]
    dependencies = page_of("providers")
    include_in_schema = False

    @get("/")
    async def index(self, page: Page) -> Response[Any]:
        return await _index(page)

    @post("/", guards=ADMIN, dependencies=WORK)
    async def create(self, page: Page, work: Work, data: Form[CustomProviderForm]) -> Response[Any]:
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
            return await _index(page, _form_of(data), exc.errors)
        return _to_provider(page, provider.id, f"Custom provider {provider.display_name} created.")

    @get("/{provider_id:str}", dependencies=PROVIDER)
    async def detail(self, page: Page, provider: PathProvider) -> Response[Any]:
        return await _detail(page, provider)

    @post("/{provider_id:str}", guards=ADMIN, dependencies=PROVIDER)
    async def update(self, page: Page, provider: PathProvider, data: Form[ProviderForm]) -> Response[Any]:
        form = {"display_name": data.display_name, "base_url": data.base_url}
        try:
            await providers.update_custom_provider(page.db, page.actor, page.tenant, provider, **form)
        except InvalidInput as exc:
            return await _detail(page, provider, exc.errors, form)
        return _to_provider(page, provider.id, "Provider saved.")

    @get("/{provider_id:str}/delete", guards=ADMIN, dependencies=PROVIDER)
    async def confirm_delete(self, page: Page, provider: PathProvider) -> Response[Any]:
        here = f"{page.url}/providers/{provider.id}"
        confirm = Confirmation(
            title=f"Delete {provider.display_name}",
            question=f"Delete the provider {provider.display_name}?",
            detail="Its models, their settings and this tenant's credential for it are deleted too.",
            action=f"{here}/delete",
            button="Delete provider",
            cancel=here,
        )
        return page.confirm(confirm)

    @post("/{provider_id:str}/delete", guards=ADMIN, dependencies=PROVIDER)
    async def delete(self, page: Page, provider: PathProvider) -> Response[Any]:
        name = provider.display_name
        await providers.delete_custom_provider(page.db, page.actor, page.tenant, provider)
        return page.redirect("/providers", f"Provider {name} deleted.")

    @post("/{provider_id:str}/models", guards=ADMIN, dependencies=PROVIDER)
    async def add_model(self, page: Page, provider: PathProvider, data: Form[ModelForm]) -> Response[Any]:
        try:
            model = await services.add_model(
                page.db,
                page.actor,
                page.tenant,
                provider,
                name=data.model_name,
                display_name=data.model_display_name,
            )
        except InvalidInput as exc:
            errors = {"model_name": exc.errors.get("name") or exc.message}
            return await _detail(page, provider, errors, {"model_name": data.model_name})
        return _to_provider(page, provider.id, f"Model {model.name} added and enabled.")

    @post("/models/{model_id:str}/enabled", guards=ADMIN, dependencies=MODEL)
    async def set_enabled(self, page: Page, model: PathModel, data: Form[EnabledForm]) -> Response[Any]:
        enabled = data.enabled == "true"
        await services.set_model_enabled(page.db, page.actor, page.tenant, model, enabled)
        done = f"Model {model.name} {'enabled' if enabled else 'disabled'} for {page.tenant.name}."
        return _to_provider(page, model.provider_id, done)

    @post("/models/{model_id:str}/delete", guards=ADMIN, dependencies=MODEL)
    async def delete_model(self, page: Page, model: PathModel) -> Response[Any]:
        provider_id, name = model.provider_id, model.name
        await services.delete_model(page.db, page.actor, page.tenant, model)
        return _to_provider(page, provider_id, f"Model {name} deleted.")


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
