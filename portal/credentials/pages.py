"""Credential pages: list, add or replace with the chosen provider's fields, test, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.params import FromPath, FromQuery

from portal.catalog.deps import NAMED_PROVIDER, PathProvider
from portal.catalog.services import find_provider, providers_for_tenant
from portal.credentials import services
from portal.credentials.connection_test import test_credential
from portal.credentials.deps import PROVIDER_CREDENTIAL, WORK, PathCredential, Work
from portal.credentials.services import CredentialWork
from portal.errors import InvalidInput
from portal.tenants.deps import PageCtx, page_of
from portal.web.deps import Http, TheVault
from portal.web.forms import FormData, text
from portal.web.guards import ADMIN, requires_tenant_member
from portal.web.templating import Confirmation, TenantPage, htmx_of

TEMPLATE = "credentials/index.html"
# What a refused form shows again: never a secret field.
SAFE_FIELDS = frozenset({"label", "endpoint", "api_version", "deployment_name"})


async def _page(
    ctx: TenantPage,
    work: CredentialWork,
    *,
    provider: str = "",
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response[Any]:
    providers = await providers_for_tenant(ctx.db, ctx.settings, ctx.tenant)
    credentials = await services.list_credentials(ctx.db, work.vault, ctx.tenant)
    chosen = next((p for p in providers if p.provider.name == provider), None) or (
        providers[0] if providers else None
    )
    existing = next((c for c in credentials if chosen and c.provider == chosen.provider.name), None)
    return ctx.form(
        TEMPLATE,
        errors,
        providers=providers,
        credentials=credentials,
        chosen=chosen,
        existing=existing,
        form=form or {},
        strict=ctx.settings.strict_credentials,
    )


class CredentialPages(Controller):
    path = "/t/{slug:str}/credentials"
    guards = [requires_tenant_member]
    dependencies = {**page_of("credentials"), **WORK}
    include_in_schema = False

    @get("/")
    async def index(self, ctx: PageCtx, work: Work, provider: FromQuery[str] = "") -> Response[Any]:
        return await _page(ctx, work, provider=provider)

    @post("/", guards=ADMIN)
    async def save(self, ctx: PageCtx, work: Work, data: FormData) -> Response[Any]:
        form = {k: text(data, k) for k in data if not k.startswith("_")}
        provider = form.pop("provider", "")
        chosen = await find_provider(work.db, work.tenant, provider)
        try:
            view = await services.save_credential(work, chosen, form, keep_blank_secrets=True)
        except InvalidInput as exc:
            safe_form = {k: v for k, v in form.items() if k in SAFE_FIELDS}
            return await _page(ctx, work, provider=provider, form=safe_form, errors=exc.errors)
        return ctx.redirect(
            "/credentials", f"Credential for {view.provider_display_name} saved (key {view.masked_key})."
        )

    @post("/{provider:str}/test", dependencies=NAMED_PROVIDER)
    async def test(
        self, ctx: PageCtx, work: Work, http: Http, provider: FromPath[str], named_provider: PathProvider
    ) -> Response[Any]:
        result = await test_credential(work, http, named_provider)
        if htmx_of(ctx.request):
            return ctx.render(TEMPLATE, test=result, provider_name=provider, block="test_result")
        message = (
            f"Connection to {provider} works."
            if result.ok
            else f"Connection to {provider} failed: {result.reason}"
        )
        return ctx.redirect("/credentials", message, "success" if result.ok else "error")

    @get("/{provider:str}/delete", guards=ADMIN, dependencies=PROVIDER_CREDENTIAL)
    async def confirm_delete(
        self, ctx: PageCtx, vault: TheVault, credential: PathCredential
    ) -> Response[Any]:
        tenant = ctx.tenant
        view = services.view_of(vault, tenant, credential)
        base = f"{ctx.url}/credentials"
        confirm = Confirmation(
            title="Delete credential",
            question=f"Delete the {view.provider_display_name} credential?",
            detail=f"Label “{view.label}”, key {view.masked_key}. Services of {tenant.name} will use the "
            "shared key for this provider, if one is configured, or none.",
            action=f"{base}/{view.provider}/delete",
            button="Delete credential",
            cancel=base,
        )
        return ctx.confirm(confirm)

    @post("/{provider:str}/delete", guards=ADMIN, dependencies=PROVIDER_CREDENTIAL)
    async def delete(self, ctx: PageCtx, credential: PathCredential) -> Response[Any]:
        name = credential.provider.display_name
        await services.delete_credential(ctx.db, ctx.actor, ctx.tenant, credential)
        return ctx.redirect("/credentials", f"Credential for {name} deleted.")
