"""Tenant pages: the platform admin's list and forms, each tenant's overview and settings."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery

from portal.apikeys.deps import Now, provide_now
from portal.db.models import Tenant
from portal.errors import Conflict, InvalidInput
from portal.tenants import services
from portal.tenants.deps import (
    CurrentTenant,
    provide_tenant_by_slug,
    shred_deleted_tenant,
    shred_once_committed,
)
from portal.tenants.overview import tenant_overview
from portal.tenants.schemas import DeleteForm, StatusForm, TenantForm
from portal.web.auth import principal_of
from portal.web.deps import CurrentActor, CurrentSettings, Db, TheVault
from portal.web.guards import requires_platform_admin, requires_tenant_member
from portal.web.paging import page_parameter
from portal.web.templating import Confirmation, confirm_page, redirect_after_change, render, tenant_page

FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
PLATFORM = [requires_platform_admin]


class AdminTenantPages(Controller):
    path = "/admin/tenants"
    guards = PLATFORM
    include_in_schema = False

    @get("/")
    async def list_tenants(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
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
        db: Db,
        vault: TheVault,
        actor: CurrentActor,
        data: Annotated[TenantForm, FORM],
    ) -> Response[Any]:
        try:
            tenant = await services.create_tenant(db, vault, actor, name=data.name, slug=data.slug)
        except (InvalidInput, Conflict) as exc:
            # A taken slug is shown beside the field, like any other problem with the form.
            errors = exc.errors if isinstance(exc, InvalidInput) else {"slug": exc.message}
            form = {"name": data.name, "slug": data.slug}
            context = {"nav": "tenants", "form": form, "errors": errors}
            return render(request, "tenants/new.html", context, status_code=400)
        return redirect_after_change(request, f"/t/{tenant.slug}", f"Tenant {tenant.name} created.")


class TenantPages(Controller):
    path = "/t/{slug:str}"
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    @get("/", dependencies={"now": Provide(provide_now, sync_to_thread=False)})
    async def overview(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        vault: TheVault,
        tenant: CurrentTenant,
        now: Now,
    ) -> Response[Any]:
        principal = principal_of(request)
        manager = principal is not None and principal.access_to(str(tenant.id)) in ("platform", "admin")
        overview = await tenant_overview(db, settings, vault, tenant, now=now, manager=manager)
        context = tenant_page(tenant, "overview", overview=overview, strict=settings.strict_credentials)
        return render(request, "tenants/overview.html", context)

    @get("/settings", guards=PLATFORM)
    async def settings_form(self, request: Request[Any, Any, Any], tenant: CurrentTenant) -> Response[Any]:
        form = {"name": tenant.name, "slug": tenant.slug}
        return render(request, "tenants/settings.html", tenant_page(tenant, "settings", form=form, errors={}))

    @post("/settings", guards=PLATFORM)
    async def update_settings(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: Annotated[TenantForm, FORM],
    ) -> Response[Any]:
        form = {"name": data.name, "slug": data.slug}
        try:
            tenant = await services.update_tenant(db, actor, str(tenant.id), **form)
        except InvalidInput as exc:
            context = tenant_page(tenant, "settings", form=form, errors=exc.errors)
            return render(request, "tenants/settings.html", context, status_code=400)
        return redirect_after_change(request, f"/t/{tenant.slug}/settings", "Tenant settings saved.")

    @post("/status", guards=PLATFORM)
    async def set_status(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: Annotated[StatusForm, FORM],
    ) -> Response[Any]:
        tenant = await services.update_tenant(db, actor, str(tenant.id), status=data.status)
        word = "suspended" if tenant.status == "suspended" else "reactivated"
        return redirect_after_change(request, f"/t/{tenant.slug}/settings", f"Tenant {tenant.name} {word}.")

    def _confirm_delete(
        self, request: Request[Any, Any, Any], tenant: Tenant, errors: dict[str, str], status_code: int = 200
    ) -> Response[Any]:
        confirm = Confirmation(
            title=f"Delete {tenant.name}",
            question=f"Delete {tenant.name}?",
            detail="This destroys the tenant's data key, then its credentials, providers and model "
            "settings. It cannot be undone.",
            action=f"/t/{tenant.slug}/delete",
            button="Delete for good",
            cancel=f"/t/{tenant.slug}/settings",
            typed=("confirm_slug", f"Type the slug “{tenant.slug}” to confirm"),
        )
        context = tenant_page(tenant, "settings", errors=errors)
        return confirm_page(request, confirm, status_code=status_code, **context)

    @get("/delete", guards=PLATFORM)
    async def confirm_delete(self, request: Request[Any, Any, Any], tenant: CurrentTenant) -> Response[Any]:
        return self._confirm_delete(request, tenant, {})

    @post("/delete", guards=PLATFORM, after_response=shred_deleted_tenant)
    async def delete_tenant(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: Annotated[DeleteForm, FORM],
    ) -> Response[Any]:
        if data.confirm_slug.strip() != tenant.slug:
            errors = {"confirm_slug": f"type the tenant's slug, {tenant.slug}, to confirm"}
            return self._confirm_delete(request, tenant, errors, 400)
        name = tenant.name
        shred_once_committed(request, await services.delete_tenant(db, actor, str(tenant.id)))
        return redirect_after_change(
            request, "/admin/tenants", f"Tenant {name} deleted; its data key was destroyed first."
        )
