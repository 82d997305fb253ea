"""Credential pages: list, add or replace with the chosen provider's fields, test, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery

from portal.catalog.deps import NAMED_PROVIDER, PathProvider
from portal.catalog.services import find_provider, providers_for_tenant
from portal.credentials import services
from portal.credentials.connection_test import test_credential
from portal.credentials.deps import PROVIDER_CREDENTIAL, WORK, PathCredential, Work
from portal.credentials.services import CredentialWork
from portal.errors import InvalidInput
from portal.tenants.deps import CurrentTenant, provide_tenant_by_slug
from portal.web.deps import CurrentActor, Db, Http, TheVault
from portal.web.forms import FormData, text
from portal.web.guards import requires_tenant_admin, requires_tenant_member
from portal.web.templating import (
    Confirmation,
    confirm_page,
    htmx_of,
    redirect_after_change,
    render,
    tenant_page,
)

TEMPLATE = "credentials/index.html"
# What a refused form shows again: never a secret field.
SAFE_FIELDS = frozenset({"label", "endpoint", "api_version", "deployment_name"})


class CredentialPages(Controller):
    path = "/t/{slug:str}/credentials"
    guards = [requires_tenant_member]
    dependencies = {"tenant": Provide(provide_tenant_by_slug), **WORK}
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        work: CredentialWork,
        *,
        provider: str = "",
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        tenant, settings = work.tenant, work.settings
        providers = await providers_for_tenant(work.db, settings, tenant)
        credentials = await services.list_credentials(work.db, work.vault, tenant)
        chosen = next((p for p in providers if p.provider.name == provider), None) or (
            providers[0] if providers else None
        )
        existing = next((c for c in credentials if chosen and c.provider == chosen.provider.name), None)
        context = tenant_page(
            tenant,
            "credentials",
            providers=providers,
            credentials=credentials,
            chosen=chosen,
            existing=existing,
            form=form or {},
            errors=errors or {},
            strict=settings.strict_credentials,
        )
        return render(request, TEMPLATE, context, status_code=status_code)

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], work: Work, provider: FromQuery[str] = ""
    ) -> Response[Any]:
        return await self._page(request, work, provider=provider)

    @post("/", guards=[requires_tenant_admin])
    async def save(self, request: Request[Any, Any, Any], work: Work, data: FormData) -> Response[Any]:
        form = {k: text(data, k) for k in data if not k.startswith("_")}
        provider = form.pop("provider", "")
        chosen = await find_provider(work.db, work.tenant, provider)
        try:
            view = await services.save_credential(work, chosen, form, keep_blank_secrets=True)
        except InvalidInput as exc:
            safe_form = {k: v for k, v in form.items() if k in SAFE_FIELDS}
            return await self._page(
                request, work, provider=provider, form=safe_form, errors=exc.errors, status_code=400
            )
        return redirect_after_change(
            request,
            f"/t/{work.tenant.slug}/credentials",
            f"Credential for {view.provider_display_name} saved (key {view.masked_key}).",
        )

    @post("/{provider:str}/test", dependencies=NAMED_PROVIDER)
    async def test(
        self,
        request: Request[Any, Any, Any],
        work: Work,
        http: Http,
        provider: FromPath[str],
        named_provider: PathProvider,
    ) -> Response[Any]:
        result = await test_credential(work, http, named_provider)
        if htmx_of(request):
            return render(request, TEMPLATE, {"test": result, "provider_name": provider}, block="test_result")
        message = (
            f"Connection to {provider} works."
            if result.ok
            else f"Connection to {provider} failed: {result.reason}"
        )
        return redirect_after_change(
            request, f"/t/{work.tenant.slug}/credentials", message, "success" if result.ok else "error"
        )

    @get("/{provider:str}/delete", guards=[requires_tenant_admin], dependencies=PROVIDER_CREDENTIAL)
    async def confirm_delete(
        self,
        request: Request[Any, Any, Any],
        vault: TheVault,
        tenant: CurrentTenant,
        credential: PathCredential,
    ) -> Response[Any]:
        view = services.view_of(vault, tenant, credential)
        base = f"/t/{tenant.slug}/credentials"
        confirm = Confirmation(
            title="Delete credential",
            question=f"Delete the {view.provider_display_name} credential?",
            detail=f"Label “{view.label}”, key {view.masked_key}. Services of {tenant.name} will use the "
            "shared key for this provider, if one is configured, or none.",
            action=f"{base}/{view.provider}/delete",
            button="Delete credential",
            cancel=base,
        )
        return confirm_page(request, confirm, **tenant_page(tenant, "credentials"))

    @post("/{provider:str}/delete", guards=[requires_tenant_admin], dependencies=PROVIDER_CREDENTIAL)
    async def delete(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        credential: PathCredential,
    ) -> Response[Any]:
        name = credential.provider.display_name
        await services.delete_credential(db, actor, tenant, credential)
        return redirect_after_change(
            request, f"/t/{tenant.slug}/credentials", f"Credential for {name} deleted."
        )
