"""Tenant pages: the platform admin's list and forms, each tenant's overview and settings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromQuery

from portal.apikeys.deps import Now, provide_now
from portal.apikeys.money import format_usd
from portal.errors import Conflict, InvalidInput
from portal.tenants import services
from portal.tenants.deps import PageCtx, page_of, shred_deleted_tenant, shred_once_committed
from portal.tenants.overview import tenant_overview
from portal.tenants.schemas import DeleteForm, LimitForm, StatusForm, TenantForm
from portal.web.auth import principal_of
from portal.web.deps import CurrentActor, Db, TheVault
from portal.web.forms import Form
from portal.web.guards import PLATFORM, requires_tenant_member
from portal.web.paging import Paged, paging_of
from portal.web.templating import Confirmation, TenantPage, redirect_after_change, render

SETTINGS = "tenants/settings.html"


class AdminTenantPages(Controller):
    path = "/admin/tenants"
    guards = PLATFORM
    include_in_schema = False

    @get("/", dependencies=paging_of(per_page=25))
    async def list_tenants(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        paging: Paged,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
    ) -> Response[Any]:
        result = await services.list_tenants(
            db, q=q, status=status or None, page=paging.page, per_page=paging.per_page
        )
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


def _confirm_delete(ctx: TenantPage, errors: dict[str, str], status_code: int = 200) -> Response[Any]:
    tenant = ctx.tenant
    confirm = Confirmation(
        title=f"Delete {tenant.name}",
        question=f"Delete {tenant.name}?",
        detail="This destroys the tenant's data key, then its credentials, providers and model "
        "settings. It cannot be undone.",
        action=f"{ctx.url}/delete",
        button="Delete for good",
        cancel=f"{ctx.url}/settings",
        typed=("confirm_slug", f"Type the slug “{tenant.slug}” to confirm"),
    )
    return ctx.confirm(confirm, status_code=status_code, errors=errors)


class TenantPages(Controller):
    path = "/t/{slug:str}"
    guards = [requires_tenant_member]
    dependencies = page_of("overview")
    include_in_schema = False

    @get("/", dependencies={"now": Provide(provide_now, sync_to_thread=False)})
    async def overview(self, ctx: PageCtx, vault: TheVault, now: Now) -> Response[Any]:
        principal = principal_of(ctx.request)
        manager = principal is not None and principal.access_to(str(ctx.tenant.id)) in ("platform", "admin")
        overview = await tenant_overview(ctx.db, ctx.settings, vault, ctx.tenant, now=now, manager=manager)
        return ctx.render("tenants/overview.html", overview=overview, strict=ctx.settings.strict_credentials)


class TenantSettingsPages(Controller):
    """Only platform admins; for anyone else the tenant is not found or not theirs to set up."""

    path = "/t/{slug:str}"
    guards = [requires_tenant_member, *PLATFORM]
    dependencies = page_of("settings")
    include_in_schema = False

    @get("/settings")
    async def settings_form(self, ctx: PageCtx) -> Response[Any]:
        return ctx.form(SETTINGS, form={"name": ctx.tenant.name, "slug": ctx.tenant.slug})

    @post("/settings")
    async def update_settings(self, ctx: PageCtx, data: Form[TenantForm]) -> Response[Any]:
        form = {"name": data.name, "slug": data.slug}
        try:
            tenant = await services.update_tenant(ctx.db, ctx.actor, str(ctx.tenant.id), **form)
        except InvalidInput as exc:
            return ctx.form(SETTINGS, exc.errors, form=form)
        return redirect_after_change(ctx.request, f"/t/{tenant.slug}/settings", "Tenant settings saved.")

    @post("/monthly-limit")
    async def set_monthly_limit(self, ctx: PageCtx, data: Form[LimitForm]) -> Response[Any]:
        try:
            limit = data.monthly_limit_usd
            tenant = await services.set_monthly_limit(ctx.db, ctx.actor, ctx.tenant, limit)
        except InvalidInput as exc:
            return ctx.render(
                SETTINGS,
                status_code=400,
                block="limit_form",
                form={"name": ctx.tenant.name, "slug": ctx.tenant.slug},
                errors={},
                limit_form=data,
                limit_errors=exc.errors,
            )
        shown = format_usd(tenant.monthly_limit_micros)
        return ctx.redirect("/settings", f"Monthly limit of {tenant.name}: {shown}.")

    @post("/status")
    async def set_status(self, ctx: PageCtx, data: Form[StatusForm]) -> Response[Any]:
        tenant = await services.update_tenant(ctx.db, ctx.actor, str(ctx.tenant.id), status=data.status)
        word = "suspended" if tenant.status == "suspended" else "reactivated"
        return ctx.redirect("/settings", f"Tenant {tenant.name} {word}.")

    @get("/delete")
    async def confirm_delete(self, ctx: PageCtx) -> Response[Any]:
        return _confirm_delete(ctx, {})

    @post("/delete", after_response=shred_deleted_tenant)
    async def delete_tenant(self, ctx: PageCtx, data: Form[DeleteForm]) -> Response[Any]:
        tenant = ctx.tenant
        if data.confirm_slug.strip() != tenant.slug:
            errors = {"confirm_slug": f"type the tenant's slug, {tenant.slug}, to confirm"}
            return _confirm_delete(ctx, errors, 400)
        name = tenant.name
        shred_once_committed(ctx.request, await services.delete_tenant(ctx.db, ctx.actor, str(tenant.id)))
        return redirect_after_change(
            ctx.request, "/admin/tenants", f"Tenant {name} deleted; its data key was destroyed first."
        )
