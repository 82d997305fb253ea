"""The tenant's single sign-on settings page: /t/{slug}/sso (its admins and platform admins)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.crypto.vault import Vault
from portal.db.models import Tenant
from portal.errors import InvalidInput, NotFound
from portal.identity.federation import services
from portal.identity.federation.checks import FederationInput
from portal.identity.federation.discovery import DiscoveryReport, test_discovery
from portal.identity.federation.services import FederationView
from portal.identity.oidc.completion import SIGNED_OUT_PATH
from portal.tenants.deps import CurrentTenant, provide_tenant_by_slug
from portal.web.deps import CurrentActor, CurrentSettings, Db, Http, TheVault
from portal.web.guards import requires_tenant_admin
from portal.web.templating import (
    Confirmation,
    confirm_page,
    htmx_of,
    redirect_after_change,
    render,
    tenant_page,
)

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


SsoData = Annotated[SsoForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
TestData = Annotated[TestForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
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


class FederationPages(Controller):
    path = "/t/{slug:str}/sso"
    guards = [requires_tenant_admin]
    dependencies = {"tenant": Provide(provide_tenant_by_slug)}
    include_in_schema = False

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        vault: Vault,
        settings: Settings,
        tenant: Tenant,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        view = await services.get_federation(db, vault, settings, tenant)
        context = tenant_page(
            tenant,
            "sso",
            view=view,
            form=form if form is not None else _form_of(view),
            errors=errors or {},
            labels=LABELS,
            discovery=None,
            callback_url=view.redirect_url if view else services.callback_url(settings),
            signed_out_url=f"{settings.public_url}{SIGNED_OUT_PATH}",
            sign_in_link=f"{settings.public_url}/t/{tenant.slug}/login",
        )
        return render(request, TEMPLATE, context, status_code=status_code)

    @get("/")
    async def show(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        tenant: CurrentTenant,
    ) -> Response[Any]:
        return await self._page(request, db, vault, settings, tenant)

    @post("/")
    async def save(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: SsoData,
    ) -> Response[Any]:
        try:
            view = await services.save_federation(db, vault, settings, actor, tenant, data.submitted())
        except InvalidInput as exc:
            # The secret is never sent back: it must be typed again.
            return await self._page(
                request, db, vault, settings, tenant, form=data.shown(), errors=exc.errors, status_code=400
            )
        state = "on" if view.enabled else "off"
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/sso",
            f"Single sign-on settings saved (client secret {view.secret_hint}; sign-in {state}).",
        )

    @post("/test")
    async def test(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        http: Http,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: TestData,
    ) -> Response[Any]:
        issuer = data.issuer.strip() or None
        try:
            report = await test_discovery(db, settings, http, actor, tenant, issuer=issuer)
        except InvalidInput as exc:
            report = DiscoveryReport(False, issuer or "", exc.errors.get("issuer", exc.message))
        if htmx_of(request):
            return render(
                request, TEMPLATE, {"tenant": tenant, "discovery": report}, block="discovery_result"
            )
        message = f"Discovery {'works' if report.ok else 'failed'}: {report.detail}"
        return redirect_after_change(
            request, f"/t/{tenant.slug}/sso", message, "success" if report.ok else "error"
        )

    @get("/delete")
    async def confirm_delete(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        vault: TheVault,
        settings: CurrentSettings,
        tenant: CurrentTenant,
    ) -> Response[Any]:
        view = await services.get_federation(db, vault, settings, tenant)
        if view is None:
            raise NotFound(services.NO_SETTINGS)
        base = f"/t/{tenant.slug}/sso"
        confirm = Confirmation(
            title="Delete single sign-on",
            question=f"Delete the single sign-on settings of {tenant.name}?",
            detail=f"Its people will no longer be able to sign in through {view.issuer}. Their memberships "
            f"stay; the sealed client secret ({view.secret_hint}) is deleted.",
            action=f"{base}/delete",
            button="Delete settings",
            cancel=base,
        )
        return confirm_page(request, confirm, **tenant_page(tenant, "sso"))

    @post("/delete")
    async def delete(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, tenant: CurrentTenant
    ) -> Response[Any]:
        await services.delete_federation(db, actor, tenant)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/sso",
            f"Single sign-on settings of {tenant.name} deleted; "
            "its people can no longer sign in through them.",
        )
