"""Tenant pages: the platform admin's list and forms, each tenant's overview and settings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.catalog.services import providers_for_tenant
from portal.config import Settings
from portal.crypto.vault import Vault
from portal.db.models import Tenant
from portal.errors import Conflict, InvalidInput
from portal.tenants import services
from portal.tenants.deps import provide_tenant_by_slug
from portal.web.forms import FormData, text
from portal.web.guards import requires_platform_admin, requires_tenant_member
from portal.web.paging import page_parameter
from portal.web.templating import redirect_after_change, render


class AdminTenantPages(Controller):
    path = "/admin/tenants"
    guards = [requires_platform_admin]
    include_in_schema = False

    @get("/")
    async def list_tenants(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        q: str = "",
        status: str = "",
        page: int = page_parameter(),
    ) -> Response[Any]:
        result = await services.list_tenants(db, q=q, status=status or None, page=page, per_page=25)
        return render(
            request,
            "tenants/list.html",
            {"nav": "tenants", "result": result, "q": q, "status": status},
        )

    @get("/new")
    async def new_tenant(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return render(request, "tenants/new.html", {"nav": "tenants", "form": {}, "errors": {}})

    @post("/")
    async def create_tenant(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        vault: Vault,
        actor: Actor,
        data: FormData,
    ) -> Response[Any]:
        form = {k: text(data, k) for k in ("name", "slug")}
        try:
            tenant = await services.create_tenant(db, vault, actor, name=form["name"], slug=form["slug"])
        except (InvalidInput, Conflict) as exc:
            # A taken slug is shown beside the field, like any other problem with the form.
            errors = exc.errors if isinstance(exc, InvalidInput) else {"slug": exc.message}
            return render(
                request,
                "tenants/new.html",
                {"nav": "tenants", "form": form, "errors": errors},
                status_code=400,
            )
        return redirect_after_change(request, f"/t/{tenant.slug}", f"Tenant {tenant.name} created.")


class TenantPages(Controller):
    path = "/t/{slug:str}"
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    @get("/")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        vault: Vault,
        tenant: Tenant,
    ) -> Response[Any]:
        from portal.credentials.services import list_credentials

        providers = await providers_for_tenant(db, settings, tenant)
        credentials = {c.provider: c for c in await list_credentials(db, vault, tenant)}
        return render(
            request,
            "tenants/overview.html",
            {
                "tenant": tenant,
                "tab": "overview",
                "providers": providers,
                "credentials": credentials,
                "strict": settings.strict_credentials,
            },
        )

    @get("/settings", guards=[requires_platform_admin])
    async def settings_form(self, request: Request[Any, Any, Any], tenant: Tenant) -> Response[Any]:
        form = {"name": tenant.name, "slug": tenant.slug}
        return render(
            request,
            "tenants/settings.html",
            {"tenant": tenant, "tab": "settings", "form": form, "errors": {}},
        )

    @post("/settings", guards=[requires_platform_admin])
    async def update_settings(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        data: FormData,
    ) -> Response[Any]:
        form = {k: text(data, k) for k in ("name", "slug")}
        try:
            tenant = await services.update_tenant(
                db, actor, str(tenant.id), name=form["name"], slug=form["slug"]
            )
        except InvalidInput as exc:
            return render(
                request,
                "tenants/settings.html",
                {"tenant": tenant, "tab": "settings", "form": form, "errors": exc.errors},
                status_code=400,
            )
        return redirect_after_change(request, f"/t/{tenant.slug}/settings", "Tenant settings saved.")

    @post("/status", guards=[requires_platform_admin])
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        data: FormData,
    ) -> Response[Any]:
        status = text(data, "status")
        tenant = await services.update_tenant(db, actor, str(tenant.id), status=status)
        word = "suspended" if tenant.status == "suspended" else "reactivated"
        return redirect_after_change(request, f"/t/{tenant.slug}/settings", f"Tenant {tenant.name} {word}.")

    @get("/delete", guards=[requires_platform_admin])
    async def confirm_delete(self, request: Request[Any, Any, Any], tenant: Tenant) -> Response[Any]:
        return render(request, "tenants/delete.html", {"tenant": tenant, "tab": "settings", "errors": {}})

    @post("/delete", guards=[requires_platform_admin])
    async def delete_tenant(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        data: FormData,
    ) -> Response[Any]:
        if text(data, "confirm_slug").strip() != tenant.slug:
            errors = {"confirm_slug": f"type the tenant's slug, {tenant.slug}, to confirm"}
            return render(
                request,
                "tenants/delete.html",
                {"tenant": tenant, "tab": "settings", "errors": errors},
                status_code=400,
            )
        name = tenant.name
        await services.delete_tenant(db, actor, str(tenant.id))
        return redirect_after_change(
            request, "/admin/tenants", f"Tenant {name} deleted; its data key was destroyed first."
        )
