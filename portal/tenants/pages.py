"""Tenant pages: the platform admin's list and forms, each tenant's overview and settings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromQuery

from portal.apikeys.deps import Now, provide_now
from portal.errors import Conflict, InvalidInput
from portal.tenants import services
from portal.tenants.deps import Page, page_of, shred_deleted_tenant, shred_once_committed
from portal.tenants.overview import tenant_overview
from portal.tenants.schemas import DeleteForm, StatusForm, TenantForm
from portal.web.auth import principal_of
from portal.web.deps import CurrentActor, Db, TheVault
from portal.web.forms import Form
from portal.web.guards import PLATFORM, requires_tenant_member
from portal.web.paging import page_parameter
from portal.web.templating import Confirmation, TenantPage, redirect_after_change, render

SETTINGS = "tenants/settings.html"


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
        data: Form[TenantForm],
    ) -> Response[Any]:
        try:
            tenant = await services.create_tenant(db, vault, actor, name=data.name, slug=data.slug)
        except (InvalidInput, Conflict) as exc:
            # A taken slug is shown beside the field, like any other problem with the form.
            form = {"name": data.name, "slug": data.slug}
            context = {"nav": "tenants", "form": form, "errors": exc.field_errors("slug")}
            return render(request, "tenants/new.html", context, status_code=400)
        return redirect_after_change(request, f"/t/{tenant.slug}", f"Tenant {tenant.name} created.")


def _confirm_delete(page: TenantPage, errors: dict[str, str], status_code: int = 200) -> Response[Any]:
    tenant = page.tenant
    confirm = Confirmation(
        title=f"Delete {tenant.name}",
        question=f"Delete {tenant.name}?",
        detail="This destroys the tenant's data key, then its credentials, providers and model "
        "settings. It cannot be undone.",
        action=f"{page.url}/delete",
        button="Delete for good",
        cancel=f"{page.url}/settings",
        typed=("confirm_slug", f"Type the slug “{tenant.slug}” to confirm"),
    )
    return page.confirm(confirm, status_code=status_code, errors=errors)


class TenantPages(Controller):
    path = "/t/{slug:str}"
    guards = [requires_tenant_member]
    dependencies = page_of("overview")
    include_in_schema = False

    @get("/", dependencies={"now": Provide(provide_now, sync_to_thread=False)})
    async def overview(self, page: Page, vault: TheVault, now: Now) -> Response[Any]:
        principal = principal_of(page.request)
        manager = principal is not None and principal.access_to(str(page.tenant.id)) in ("platform", "admin")
        overview = await tenant_overview(page.db, page.settings, vault, page.tenant, now=now, manager=manager)
        return page.render(
            "tenants/overview.html", overview=overview, strict=page.settings.strict_credentials
        )


class TenantSettingsPages(Controller):
    """Only platform admins; for anyone else the tenant is not found or not theirs to set up."""

    path = "/t/{slug:str}"
    guards = [requires_tenant_member, *PLATFORM]
    dependencies = page_of("settings")
    include_in_schema = False

    @get("/settings")
    async def settings_form(self, page: Page) -> Response[Any]:
        return page.form(SETTINGS, form={"name": page.tenant.name, "slug": page.tenant.slug})

    @post("/settings")
    async def update_settings(self, page: Page, data: Form[TenantForm]) -> Response[Any]:
        form = {"name": data.name, "slug": data.slug}
        try:
            tenant = await services.update_tenant(page.db, page.actor, str(page.tenant.id), **form)
        except InvalidInput as exc:
            return page.form(SETTINGS, exc.errors, form=form)
        return redirect_after_change(page.request, f"/t/{tenant.slug}/settings", "Tenant settings saved.")

    @post("/status")
    async def set_status(self, page: Page, data: Form[StatusForm]) -> Response[Any]:
        tenant = await services.update_tenant(page.db, page.actor, str(page.tenant.id), status=data.status)
        word = "suspended" if tenant.status == "suspended" else "reactivated"
        return page.redirect("/settings", f"Tenant {tenant.name} {word}.")

    @get("/delete")
    async def confirm_delete(self, page: Page) -> Response[Any]:
        return _confirm_delete(page, {})

    @post("/delete", after_response=shred_deleted_tenant)
    async def delete_tenant(self, page: Page, data: Form[DeleteForm]) -> Response[Any]:
        tenant = page.tenant
        if data.confirm_slug.strip() != tenant.slug:
            errors = {"confirm_slug": f"type the tenant's slug, {tenant.slug}, to confirm"}
            return _confirm_delete(page, errors, 400)
        name = tenant.name
        shred_once_committed(page.request, await services.delete_tenant(page.db, page.actor, str(tenant.id)))
        return redirect_after_change(
            page.request, "/admin/tenants", f"Tenant {name} deleted; its data key was destroyed first."
        )
