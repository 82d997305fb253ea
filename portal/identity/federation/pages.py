"""The tenant's single sign-on settings page: /t/{slug}/sso (its admins and platform admins)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post

from portal.crypto.vault import Vault
from portal.errors import InvalidInput, NotFound
from portal.identity.federation import services
from portal.identity.federation.checks import FederationInput
from portal.identity.federation.discovery import DiscoveryReport, test_discovery
from portal.identity.federation.services import FederationView
from portal.identity.oidc.completion import SIGNED_OUT_PATH
from portal.tenants.deps import PageCtx, page_of
from portal.web.deps import Http, TheVault
from portal.web.forms import Form
from portal.web.guards import requires_tenant_admin
from portal.web.templating import Confirmation, TenantPage, htmx_of

TEMPLATE = "federation/sso.html"


class SsoForm(msgspec.Struct):
    """The settings form (every field optional: a browser leaves unticked boxes out)."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: str = ""
    allowed_domains: str = ""
    role_claim: str = ""
    admin_values: str = ""
    redirect_url: str = ""
    jit_provisioning: str = ""
    enabled: str = ""
    emails_verified: str = ""

    def shown(self) -> dict[str, Any]:
        """What the form shows again after a problem: everything but the secret, which is typed again."""
        shown: dict[str, Any] = msgspec.structs.asdict(self)
        del shown["client_secret"]
        for box in ("jit_provisioning", "enabled", "emails_verified"):
            shown[box] = shown[box] == "on"
        return shown

    def submitted(self) -> FederationInput:
        shown = self.shown()
        return FederationInput(**shown, client_secret=self.client_secret)


class TestForm(msgspec.Struct):
    issuer: str = ""


LABELS = {
    "issuer": "Issuer URL",
    "client_id": "Client ID",
    "client_secret": "Client secret",
    "scopes": "Scopes",
    "allowed_domains": "Allowed e-mail domains",
    "role_claim": "Role claim",
    "admin_values": "Values that make an admin",
    "redirect_url": "Redirect URL override",
}


def _form_of(view: FederationView | None) -> dict[str, Any]:
    if view is None:
        return {
            "scopes": "openid profile email",
            "enabled": True,
            "jit_provisioning": False,
            "emails_verified": False,
        }
    return {
        "issuer": view.issuer,
        "client_id": view.client_id,
        "scopes": view.scopes,
        "allowed_domains": ", ".join(view.allowed_domains),
        "role_claim": view.role_claim,
        "admin_values": ", ".join(view.admin_values),
        "redirect_url": view.redirect_url if view.redirect_url_overridden else "",
        "jit_provisioning": view.jit_provisioning,
        "enabled": view.enabled,
        "emails_verified": view.emails_verified,
    }


async def _page(
    ctx: TenantPage,
    vault: Vault,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Response[Any]:
    settings = ctx.settings
    view = await services.get_federation(ctx.db, vault, settings, ctx.tenant)
    return ctx.form(
        TEMPLATE,
        errors,
        view=view,
        form=form if form is not None else _form_of(view),
        labels=LABELS,
        discovery=None,
        callback_url=view.redirect_url if view else services.callback_url(settings),
        signed_out_url=f"{settings.public_url}{SIGNED_OUT_PATH}",
        sign_in_link=f"{settings.public_url}{ctx.url}/login",
    )


class FederationPages(Controller):
    path = "/t/{slug:str}/sso"
    guards = [requires_tenant_admin]
    dependencies = page_of("sso")
    include_in_schema = False

    @get("/")
    async def show(self, ctx: PageCtx, vault: TheVault) -> Response[Any]:
        return await _page(ctx, vault)

    @post("/")
    async def save(self, ctx: PageCtx, vault: TheVault, data: Form[SsoForm]) -> Response[Any]:
        try:
            view = await services.save_federation(
                ctx.db, vault, ctx.settings, ctx.actor, ctx.tenant, data.submitted()
            )
        except InvalidInput as exc:
            # The secret is never sent back: it must be typed again.
            return await _page(ctx, vault, form=data.shown(), errors=exc.errors)
        state = "on" if view.enabled else "off"
        return ctx.redirect(
            "/sso", f"Single sign-on settings saved (client secret {view.secret_hint}; sign-in {state})."
        )

    @post("/test")
    async def test(self, ctx: PageCtx, http: Http, data: Form[TestForm]) -> Response[Any]:
        issuer = data.issuer.strip() or None
        try:
            report = await test_discovery(ctx.db, ctx.settings, http, ctx.actor, ctx.tenant, issuer=issuer)
        except InvalidInput as exc:
            report = DiscoveryReport(False, issuer or "", exc.errors.get("issuer", exc.message))
        if htmx_of(ctx.request):
            return ctx.render(TEMPLATE, discovery=report, block="discovery_result")
        message = f"Discovery {'works' if report.ok else 'failed'}: {report.detail}"
        return ctx.redirect("/sso", message, "success" if report.ok else "error")

    @get("/delete")
    async def confirm_delete(self, ctx: PageCtx, vault: TheVault) -> Response[Any]:
        tenant = ctx.tenant
        view = await services.get_federation(ctx.db, vault, ctx.settings, tenant)
        if view is None:
            raise NotFound(services.NO_SETTINGS)
        base = f"{ctx.url}/sso"
        confirm = Confirmation(
            title="Delete single sign-on",
            question=f"Delete the single sign-on settings of {tenant.name}?",
            detail=f"Its people will no longer be able to sign in through {view.issuer}. Their memberships "
            f"stay; the sealed client secret ({view.secret_hint}) is deleted.",
            action=f"{base}/delete",
            button="Delete settings",
            cancel=base,
        )
        return ctx.confirm(confirm)

    @post("/delete")
    async def delete(self, ctx: PageCtx) -> Response[Any]:
        await services.delete_federation(ctx.db, ctx.actor, ctx.tenant)
        return ctx.redirect(
            "/sso",
            f"Single sign-on settings of {ctx.tenant.name} deleted; "
            "its people can no longer sign in through them.",
        )
