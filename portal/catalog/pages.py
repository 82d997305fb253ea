"""Provider and model pages: a tenant's providers and models; the platform's built-in catalogue."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from portal.catalog import pricing, providers, services
from portal.catalog.deps import MODEL, PROVIDER, PathModel, PathProvider
from portal.catalog.prices import describe
from portal.catalog.schemas import CustomProviderForm, EnabledForm, ModelForm, PricesForm, ProviderForm
from portal.catalog.services import prices_of
from portal.credentials.deps import WORK, Work
from portal.db.models import Model, Provider
from portal.errors import InvalidInput, found
from portal.tenants.deps import PageCtx, page_of
from portal.web.deps import CurrentActor, Db
from portal.web.forms import Form
from portal.web.guards import ADMIN, requires_platform_admin, requires_tenant_member
from portal.web.templating import Confirmation, TenantPage, redirect_after_change, render


def _form_of(data: CustomProviderForm) -> dict[str, str]:
    """What the custom-provider form shows again after a problem: every field but the API key."""
    shown = msgspec.structs.asdict(data)
    del shown["api_key"]
    return shown


async def _index(
    ctx: TenantPage, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response[Any]:
    views = await services.providers_for_tenant(ctx.db, ctx.settings, ctx.tenant)
    return ctx.form("providers/index.html", errors, providers=views, form=form or {})


async def _detail(
    ctx: TenantPage,
    provider: Provider,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    models = await services.models_for_tenant(ctx.db, ctx.tenant, provider)
    return ctx.form("providers/detail.html", errors, provider=provider, models=models, form=form or {})


PRICE_LABELS = {
    "input_usd_per_million": "Input price",
    "output_usd_per_million": "Output price",
    "max_output_tokens": "Longest answer",
}


def _prices_page(
    render: Callable[..., Response[Any]],
    model: Model,
    form: PricesForm,
    base: str,
    errors: dict[str, str] | None = None,
) -> Response[Any]:
    """The prices form of a model: a tenant's custom one (below /t/{slug}) or a built-in one (/admin)."""
    custom = not model.provider.is_builtin
    action = f"{base}/providers/models/{model.id}/prices" if custom else f"{base}/models/{model.id}/prices"
    return render(
        "catalog/prices.html",
        status_code=400 if errors else 200,
        model=model,
        form=form,
        errors=errors or {},
        labels=PRICE_LABELS,
        action=action,
        reset_action=None if custom else f"{action}/reset",
        back=f"{base}/providers/{model.provider_id}" if custom else base,
    )


def _to_provider(ctx: TenantPage, provider_id: uuid.UUID, message: str) -> Response[Any]:
    """Back to the provider's page, with the message."""
    return ctx.redirect(f"/providers/{provider_id}", message)


class ProviderPages(Controller):
    path = "/t/{slug:str}/providers"
    guards = [requires_tenant_member]
    dependencies = page_of("providers")
    include_in_schema = False

    @get("/")
    async def index(self, ctx: PageCtx) -> Response[Any]:
        return await _index(ctx)

    @post("/", guards=ADMIN, dependencies=WORK)
    async def create(self, ctx: PageCtx, work: Work, data: Form[CustomProviderForm]) -> Response[Any]:
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
            return await _index(ctx, _form_of(data), exc.errors)
        return _to_provider(ctx, provider.id, f"Custom provider {provider.display_name} created.")

    @get("/{provider_id:str}", dependencies=PROVIDER)
    async def detail(self, ctx: PageCtx, provider: PathProvider) -> Response[Any]:
        return await _detail(ctx, provider)

    @post("/{provider_id:str}", guards=ADMIN, dependencies=PROVIDER)
    async def update(self, ctx: PageCtx, provider: PathProvider, data: Form[ProviderForm]) -> Response[Any]:
        form = {"display_name": data.display_name, "base_url": data.base_url}
        try:
            await providers.update_custom_provider(ctx.db, ctx.actor, ctx.tenant, provider, **form)
        except InvalidInput as exc:
            return await _detail(ctx, provider, exc.errors, form)
        return _to_provider(ctx, provider.id, "Provider saved.")

    @get("/{provider_id:str}/delete", guards=ADMIN, dependencies=PROVIDER)
    async def confirm_delete(self, ctx: PageCtx, provider: PathProvider) -> Response[Any]:
        here = f"{ctx.url}/providers/{provider.id}"
        confirm = Confirmation(
            title=f"Delete {provider.display_name}",
            question=f"Delete the provider {provider.display_name}?",
            detail="Its models, their settings and this tenant's credential for it are deleted too.",
            action=f"{here}/delete",
            button="Delete provider",
            cancel=here,
        )
        return ctx.confirm(confirm)

    @post("/{provider_id:str}/delete", guards=ADMIN, dependencies=PROVIDER)
    async def delete(self, ctx: PageCtx, provider: PathProvider) -> Response[Any]:
        name = provider.display_name
        await providers.delete_custom_provider(ctx.db, ctx.actor, ctx.tenant, provider)
        return ctx.redirect("/providers", f"Provider {name} deleted.")

    @post("/{provider_id:str}/models", guards=ADMIN, dependencies=PROVIDER)
    async def add_model(self, ctx: PageCtx, provider: PathProvider, data: Form[ModelForm]) -> Response[Any]:
        try:
            model = await services.add_model(
                ctx.db,
                ctx.actor,
                ctx.tenant,
                provider,
                name=data.model_name,
                display_name=data.model_display_name,
            )
        except InvalidInput as exc:
            errors = {"model_name": exc.errors.get("name") or exc.message}
            return await _detail(ctx, provider, errors, {"model_name": data.model_name})
        return _to_provider(ctx, provider.id, f"Model {model.name} added and enabled.")

    @post("/models/{model_id:str}/enabled", guards=ADMIN, dependencies=MODEL)
    async def set_enabled(self, ctx: PageCtx, model: PathModel, data: Form[EnabledForm]) -> Response[Any]:
        enabled = data.enabled == "true"
        await services.set_model_enabled(ctx.db, ctx.actor, ctx.tenant, model, enabled)
        done = f"Model {model.name} {'enabled' if enabled else 'disabled'} for {ctx.tenant.name}."
        return _to_provider(ctx, model.provider_id, done)

    @get("/models/{model_id:str}/prices", guards=ADMIN, dependencies=MODEL)
    async def prices_form(self, ctx: PageCtx, model: PathModel) -> Response[Any]:
        services.require_custom(model.provider, ctx.tenant, "editing prices")
        return _prices_page(ctx.render, model, PricesForm.of(model), ctx.url)

    @post("/models/{model_id:str}/prices", guards=ADMIN, dependencies=MODEL)
    async def set_prices(self, ctx: PageCtx, model: PathModel, data: Form[PricesForm]) -> Response[Any]:
        try:
            await pricing.set_model_prices(ctx.db, ctx.actor, model, tenant=ctx.tenant, **data.prices())
        except InvalidInput as exc:
            return _prices_page(ctx.render, model, data, ctx.url, exc.errors)
        return _to_provider(ctx, model.provider_id, f"Prices of {model.name}: {describe(prices_of(model))}.")

    @post("/models/{model_id:str}/delete", guards=ADMIN, dependencies=MODEL)
    async def delete_model(self, ctx: PageCtx, model: PathModel) -> Response[Any]:
        provider_id, name = model.provider_id, model.name
        await services.delete_model(ctx.db, ctx.actor, ctx.tenant, model)
        return _to_provider(ctx, provider_id, f"Model {name} deleted.")


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
        model = await services.find_builtin_model(db, model_id)
        name = model.name
        await services.remove_builtin(db, actor, model.provider, model)
        return redirect_after_change(
            request, "/admin/catalog", f"Model {name} removed from the catalogue for every tenant."
        )

    @get("/models/{model_id:uuid}/prices")
    async def prices_form(
        self, request: Request[Any, Any, Any], db: Db, model_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        model = await services.find_builtin_model(db, model_id)
        return _prices_page(_admin_render(request), model, PricesForm.of(model), ADMIN_CATALOG)

    @post("/models/{model_id:uuid}/prices")
    async def set_prices(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        model_id: FromPath[uuid.UUID],
        data: Form[PricesForm],
    ) -> Response[Any]:
        model = await services.find_builtin_model(db, model_id)
        try:
            await pricing.set_model_prices(db, actor, model, tenant=None, **data.prices())
        except InvalidInput as exc:
            return _prices_page(_admin_render(request), model, data, ADMIN_CATALOG, exc.errors)
        done = (
            f"Prices of {model.provider.name}/{model.name}: {describe(prices_of(model))}, for every tenant."
        )
        return redirect_after_change(request, ADMIN_CATALOG, done)

    @post("/models/{model_id:uuid}/prices/reset")
    async def reset_prices(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, model_id: FromPath[uuid.UUID]
    ) -> Response[Any]:
        model = await pricing.reset_model_prices(db, actor, await services.find_builtin_model(db, model_id))
        done = f"Prices of {_named(model)} back to the list prices: {describe(prices_of(model))}."
        return redirect_after_change(request, ADMIN_CATALOG, done)


ADMIN_CATALOG = "/admin/catalog"


def _named(model: Model) -> str:
    return f"{model.provider.name}/{model.name}"


def _admin_render(request: Request[Any, Any, Any]) -> Callable[..., Response[Any]]:
    """Render a page of the platform's catalogue (its nav entry marked), as TenantPage.render does."""

    def rendering(template: str, *, status_code: int = 200, **context: Any) -> Response[Any]:
        return render(request, template, {"nav": "catalog", **context}, status_code=status_code)

    return rendering
