"""Provider and model pages: a tenant's providers and models; the platform's built-in catalogue."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from portal.audit.actor import Actor
from portal.catalog import services
from portal.config import Settings
from portal.credentials.services import create_custom_provider_with_key
from portal.crypto.vault import Vault
from portal.db.models import Model, Provider, Tenant
from portal.errors import InvalidInput, NotFound
from portal.tenants.deps import provide_tenant_by_slug
from portal.web.forms import FormData, text
from portal.web.guards import requires_platform_admin, requires_tenant_admin, requires_tenant_member
from portal.web.templating import redirect_after_change, render


def _model_lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.replace(",", "\n").splitlines() if line.strip()]


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
        providers = await services.providers_for_tenant(db, settings, tenant)
        return render(
            request,
            "providers/index.html",
            {
                "tenant": tenant,
                "tab": "providers",
                "providers": providers,
                "form": form or {},
                "errors": errors or {},
            },
            status_code=status_code,
        )

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], db: AsyncSession, settings: Settings, tenant: Tenant
    ) -> Response[Any]:
        return await self._index(request, db, settings, tenant)

    @post("/", guards=[requires_tenant_admin])
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        vault: Vault,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        data: FormData,
    ) -> Response[Any]:
        form = {k: text(data, k) for k in ("name", "display_name", "base_url", "models")}
        try:
            provider = await create_custom_provider_with_key(
                db,
                vault,
                settings,
                actor,
                tenant,
                name=form["name"],
                display_name=form["display_name"],
                base_url=form["base_url"],
                models=_model_lines(form["models"]),
                api_key=text(data, "api_key"),
            )
        except InvalidInput as exc:
            return await self._index(request, db, settings, tenant, form, exc.errors, 400)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/providers/{provider.id}",
            f"Custom provider {provider.display_name} created.",
        )

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
        context = {
            "tenant": tenant,
            "tab": "providers",
            "provider": provider,
            "models": models,
            "errors": errors or {},
            "form": form or {},
        }
        return render(request, "providers/detail.html", context, status_code=status_code)

    @get("/{provider_id:str}")
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, provider_id: str
    ) -> Response[Any]:
        return await self._detail(request, db, tenant, await services.find_provider(db, tenant, provider_id))

    @post("/{provider_id:str}", guards=[requires_tenant_admin])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        provider_id: str,
        data: FormData,
    ) -> Response[Any]:
        provider = await services.find_provider(db, tenant, provider_id)
        form = {"display_name": text(data, "display_name"), "base_url": text(data, "base_url")}
        try:
            await services.update_custom_provider(db, actor, tenant, provider, **form)
        except InvalidInput as exc:
            return await self._detail(request, db, tenant, provider, exc.errors, form, 400)
        return redirect_after_change(request, f"/t/{tenant.slug}/providers/{provider.id}", "Provider saved.")

    @get("/{provider_id:str}/delete", guards=[requires_tenant_admin])
    async def confirm_delete(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, provider_id: str
    ) -> Response[Any]:
        provider = await services.find_provider(db, tenant, provider_id)
        return render(
            request,
            "providers/delete.html",
            {"tenant": tenant, "tab": "providers", "provider": provider},
        )

    @post("/{provider_id:str}/delete", guards=[requires_tenant_admin])
    async def delete(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        provider_id: str,
    ) -> Response[Any]:
        provider = await services.find_provider(db, tenant, provider_id)
        name = provider.display_name
        await services.delete_custom_provider(db, actor, tenant, provider)
        return redirect_after_change(request, f"/t/{tenant.slug}/providers", f"Provider {name} deleted.")

    @post("/{provider_id:str}/models", guards=[requires_tenant_admin])
    async def add_model(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        provider_id: str,
        data: FormData,
    ) -> Response[Any]:
        provider = await services.find_provider(db, tenant, provider_id)
        try:
            model = await services.add_model(
                db,
                actor,
                tenant,
                provider,
                name=text(data, "model_name"),
                display_name=text(data, "model_display_name"),
            )
        except InvalidInput as exc:
            errors = {"model_name": exc.errors.get("name") or exc.message}
            return await self._detail(
                request, db, tenant, provider, errors, {"model_name": text(data, "model_name")}, 400
            )
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/providers/{provider.id}",
            f"Model {model.name} added and enabled.",
        )

    @post("/models/{model_id:str}/enabled", guards=[requires_tenant_admin])
    async def set_enabled(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        model_id: str,
        data: FormData,
    ) -> Response[Any]:
        model = await services.find_model(db, tenant, model_id)
        enabled = text(data, "enabled") == "true"
        await services.set_model_enabled(db, actor, tenant, model, enabled)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/providers/{model.provider_id}",
            f"Model {model.name} {'enabled' if enabled else 'disabled'} for {tenant.name}.",
        )

    @post("/models/{model_id:str}/delete", guards=[requires_tenant_admin])
    async def delete_model(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        model_id: str,
    ) -> Response[Any]:
        model = await services.find_model(db, tenant, model_id)
        provider_id, name = model.provider_id, model.name
        await services.delete_model(db, actor, tenant, model)
        return redirect_after_change(
            request, f"/t/{tenant.slug}/providers/{provider_id}", f"Model {name} deleted."
        )


class CatalogPages(Controller):
    path = "/admin/catalog"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def index(self, request: Request[Any, Any, Any], db: AsyncSession) -> Response[Any]:
        providers = await db.scalars(
            select(Provider)
            .where(Provider.tenant_id.is_(None))
            .options(selectinload(Provider.models))
            .order_by(Provider.display_name)
        )
        return render(request, "catalog/index.html", {"nav": "catalog", "providers": list(providers)})

    @post("/providers/{provider_id:uuid}/remove")
    async def remove_provider(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, provider_id: Any
    ) -> Response[Any]:
        provider = await db.get(Provider, provider_id)
        if provider is None or not provider.is_builtin:
            raise NotFound("Provider not found")
        name = provider.display_name
        await services.remove_builtin(db, actor, provider, None)
        return redirect_after_change(
            request, "/admin/catalog", f"{name} removed from the catalogue for every tenant."
        )

    @post("/models/{model_id:uuid}/remove")
    async def remove_model(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, model_id: Any
    ) -> Response[Any]:
        model = await db.scalar(
            select(Model).where(Model.id == model_id).options(selectinload(Model.provider))
        )
        if model is None or not model.provider.is_builtin:
            raise NotFound("Model not found")
        name = model.name
        await services.remove_builtin(db, actor, model.provider, model)
        return redirect_after_change(
            request, "/admin/catalog", f"Model {name} removed from the catalogue for every tenant."
        )
