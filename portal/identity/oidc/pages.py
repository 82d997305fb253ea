"""Single sign-on pages: sign-in routed by e-mail domain, per-tenant sign-in links, the callback,
and switching between one's tenants."""

from __future__ import annotations

import re
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.config import Settings
from portal.db.models import IdentityProvider, Tenant
from portal.identity.forms import NextData, SsoEmailData, TenantData
from portal.identity.oidc import flow, linking
from portal.identity.oidc.completion import LINK_PATH, session_data
from portal.identity.oidc.refusals import unavailable
from portal.identity.oidc.services import idp_of
from portal.identity.second_factor_pages import PENDING_KEY as SECOND_FACTOR_PENDING
from portal.tenant_configs import ENEO_CALLBACK_PATH
from portal.web.auth import principal_of
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import allow_anyone, requires_signed_in
from portal.web.templating import redirect_after_change, render

EMAIL_PATTERN = r"^[^@\s]+@([^@\s]+\.[^@\s]+)$"


async def tenants_for_email(db: AsyncSession, settings: Settings, email: str) -> list[Tenant]:
    """Tenants with single sign-on on whose allowed domains the e-mail is; else the default tenant."""
    match = re.fullmatch(EMAIL_PATTERN, email)
    domain = match.group(1).lower() if match else ""
    rows = (
        await db.execute(
            select(Tenant, IdentityProvider.allowed_domains)
            .join(IdentityProvider, IdentityProvider.tenant_id == Tenant.id)
            .where(IdentityProvider.enabled.is_(True))
            .order_by(Tenant.name)
        )
    ).all()
    found = [tenant for tenant, domains in rows if domain and domain in (domains or [])]
    if not found and settings.default_tenant_id:
        found = [tenant for tenant, _ in rows if tenant.slug == settings.default_tenant_id]
    return found


async def default_sso_tenant(db: AsyncSession, settings: Settings) -> Tenant | None:
    if not settings.default_tenant_id:
        return None
    return await db.scalar(
        select(Tenant)
        .join(IdentityProvider, IdentityProvider.tenant_id == Tenant.id)
        .where(Tenant.slug == settings.default_tenant_id, IdentityProvider.enabled.is_(True))
    )


async def login_page(
    request: Request[Any, Any, Any],
    db: AsyncSession,
    settings: Settings,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response[Any]:
    """/login: the single sign-on form (by e-mail) and the platform admins' password form."""
    context.setdefault("next", "")
    context.setdefault("sso_errors", {})
    context["default_tenant"] = await default_sso_tenant(db, settings)
    return render(request, "auth/login.html", context, status_code=status_code)


class SsoPages(Controller):
    guards = [allow_anyone]
    include_in_schema = False

    @post("/login/sso")
    async def sso_by_email(
        self, request: Request[Any, Any, Any], db: Db, settings: CurrentSettings, data: SsoEmailData
    ) -> Response[Any]:
        email, next_url, chosen = data.sso_email.strip().lower(), data.next, data.tenant
        if not re.fullmatch(EMAIL_PATTERN, email):
            errors = {"sso_email": "enter your work e-mail address, e.g. you@company.example"}
            return await login_page(
                request, db, settings, sso_email=email, sso_errors=errors, next=next_url, status_code=400
            )
        tenants = await tenants_for_email(db, settings, email)
        if not tenants:
            domain = email.rsplit("@", 1)[1]
            errors = {
                "sso_email": f"No organisation on this portal signs in with @{domain} addresses. Use the "
                "sign-in link your organisation gave you (it ends in /t/<organisation>/login), "
                "or ask its admins."
            }
            return await login_page(
                request, db, settings, sso_email=email, sso_errors=errors, next=next_url, status_code=400
            )
        if chosen:
            tenants = [t for t in tenants if t.slug == chosen]
        if len(tenants) == 1:
            return await flow.start_sign_in(request, tenants[0], next_url=next_url, login_hint=email)
        return render(
            request, "auth/pick_tenant.html", {"tenants": tenants, "sso_email": email, "next": next_url}
        )

    @get("/t/{slug:str}/login")
    async def tenant_sign_in(
        self, request: Request[Any, Any, Any], db: Db, slug: FromPath[str], next: FromQuery[str] = ""
    ) -> Response[Any]:
        """Signed out: straight to the tenant's provider. Signed in: a page whose POST starts it, so a
        link someone else sent cannot take a signed-in session through a provider unawares."""
        tenant = await _tenant_or_refusal(request, db, slug)
        if not isinstance(tenant, Tenant):
            return tenant
        idp = await idp_of(db, tenant.id)
        if _has_session(request) and idp is not None and idp.enabled:
            return render(request, "auth/sso_start.html", {"target": tenant, "next": next})
        return await flow.start_sign_in(request, tenant, next_url=next)

    @post("/t/{slug:str}/login")
    async def tenant_sign_in_confirmed(
        self, request: Request[Any, Any, Any], db: Db, slug: FromPath[str], data: NextData
    ) -> Response[Any]:
        tenant = await _tenant_or_refusal(request, db, slug)
        if not isinstance(tenant, Tenant):
            return tenant
        return await flow.start_sign_in(request, tenant, next_url=data.next)

    @get(LINK_PATH)
    async def link_form(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await linking.confirmation_page(request)

    @post(LINK_PATH)
    async def link(self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor) -> Response[Any]:
        return await linking.confirm(request, db, actor)

    @get(["/auth/callback", ENEO_CALLBACK_PATH])
    async def callback(
        self,
        request: Request[Any, Any, Any],
        code: FromQuery[str | None] = None,
        state_value: Annotated[str | None, QueryParameter(name="state")] = None,
        iss: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
        error_description: FromQuery[str | None] = None,
    ) -> Response[Any]:
        return await flow.finish_sign_in(
            request, state=state_value, code=code, iss=iss, error=error, error_description=error_description
        )

    @post("/auth/tenant", guards=[requires_signed_in])
    async def switch_tenant(self, request: Request[Any, Any, Any], db: Db, data: TenantData) -> Response[Any]:
        """Act in another of one's tenants (the header's switcher)."""
        principal = principal_of(request)
        slug = data.slug
        access = next((m for m in principal.memberships if m.slug == slug), None) if principal else None
        if (
            principal
            and access is None
            and any(m.slug == slug for m in principal.memberships_needing_sign_in)
        ):
            # Not yet signed in to that tenant in this session: through its own provider first.
            tenant = await _tenant_or_refusal(request, db, slug)
            if not isinstance(tenant, Tenant):
                return tenant
            return await flow.start_sign_in(request, tenant)
        if access is None:
            return render(
                request, "error.html", {"status": 404, "message": "There is nothing here."}, status_code=404
            )
        request.set_session({**session_data(request), "tenant_id": str(access.tenant_id)})
        return redirect_after_change(
            request, f"/t/{access.slug}", f"You are now acting in {access.name or access.slug}."
        )


def _has_session(request: Request[Any, Any, Any]) -> bool:
    session = session_data(request)
    return bool(session.get("user_id") or session.get(SECOND_FACTOR_PENDING))


async def _tenant_or_refusal(
    request: Request[Any, Any, Any], db: AsyncSession, slug: str
) -> Tenant | Response[Any]:
    tenant = await db.scalar(select(Tenant).where(Tenant.slug == slug.lower()))
    if tenant is not None:
        return tenant
    return await flow.refuse(request, unavailable(f"The organisation {slug[:63]!r}"), db=db)
