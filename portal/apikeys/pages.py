"""API-key pages: list and filter, create (the secret shown once), detail with spend, edit, rotate,
disable, revoke (with confirmation), revoke old keys, plans.

Thin controllers: forms arrive as typed structs (portal.apikeys.forms), the path's key is loaded by
a dependency (404 for another tenant's), and each page's context is built in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.params import FromQuery, QueryParameter
from litestar.plugins.flash import flash

from portal.apikeys import services
from portal.apikeys.charts import daily_spend_chart
from portal.apikeys.deps import PAGES, Now, PathKey
from portal.apikeys.forms import AmountForm, GraceForm, KeyForm, form_errors
from portal.apikeys.money import format_usd
from portal.apikeys.plans import list_plans
from portal.apikeys.queries import KeyFilter, find_key, list_keys, tenant_model_names, view_of
from portal.apikeys.refusals import NO_STORE
from portal.apikeys.rules import NAME_HINT, RESET_PERIODS, SCOPES, STATES
from portal.apikeys.snippets import snippets_for
from portal.apikeys.spend import daily_series, forecasts
from portal.apikeys.traffic import gateway_traffic
from portal.db.models import ApiKey
from portal.errors import Conflict, InvalidInput
from portal.tenants.deps import PageCtx
from portal.web.forms import Form
from portal.web.guards import ADMIN, requires_tenant_member
from portal.web.templating import Confirmation, TenantPage

LABELS = {
    "name": "Name",
    "scopes": "Scopes",
    "plan": "Plan",
    "limit_usd": "Spend limit (USD)",
    "reset_period": "Resets",
    "expires_on": "Expires on",
    "allowed_models": "Allowed models",
    "metadata": "Metadata",
    "amount_usd": "Increase by (USD)",
    "grace": "Grace period",
    "older_than": "Older than",
    "rpm_limit": "Requests per minute",
    "tpm_limit": "Tokens per minute",
}
CHOICES = {"scopes": SCOPES, "reset_periods": RESET_PERIODS, "labels": LABELS}


def _at(key: ApiKey) -> str:
    """The key's page, below the tenant's pages."""
    return f"/api-keys/{key.id}"


async def _secret_page(
    ctx: TenantPage, now: datetime, key: ApiKey, secret: str, **context: Any
) -> Response[Any]:
    """The new key's secret, shown this once and never cached, with code that calls the gateway."""
    snippets = await snippets_for(ctx.db, ctx.settings, ctx.tenant, key, secret)
    view = await view_of(ctx.db, key, now)
    response = ctx.render("apikeys/secret.html", view=view, secret=secret, snippets=snippets, **context)
    response.headers.update(NO_STORE)
    return response


async def _index(
    ctx: TenantPage,
    now: datetime,
    *,
    filters: dict[str, str] | None = None,
    form: KeyForm | None = None,
    errors: dict[str, str] | None = None,
) -> Response[Any]:
    db, tenant, filters = ctx.db, ctx.tenant, filters or {}
    every = await list_keys(db, tenant, now=now)  # once: the warnings are of every key
    try:
        wanted = KeyFilter.of(
            filters.get("name", ""), filters.get("state", ""), [filters.get("metadata", "")]
        )
        views, filter_error = wanted.select(every), None
    except InvalidInput as exc:
        views, filter_error = [], "; ".join(exc.errors.values())
    return ctx.form(
        "apikeys/index.html",
        errors,
        views=views,
        warnings=[v for v in every if v.warning],
        filters=filters,
        filter_error=filter_error,
        states=STATES,
        plans=await list_plans(db, tenant),
        models=sorted(await tenant_model_names(db, tenant)),
        form=form or KeyForm.new(),
        name_hint=NAME_HINT,
        **CHOICES,
    )


async def _detail(
    ctx: TenantPage,
    now: datetime,
    key: ApiKey,
    *,
    form: KeyForm | None = None,
    errors: dict[str, str] | None = None,
) -> Response[Any]:
    db, tenant = ctx.db, ctx.tenant
    view = await view_of(db, key, now)
    series = await daily_series(db, now=now, days=30, tenant_id=tenant.id, lineage_id=key.lineage_id)
    linked = {
        other_id: await find_key(db, other_id, tenant)
        for other_id in (key.rotated_from_id, key.replaced_by_id)
        if other_id is not None
    }
    return ctx.form(
        "apikeys/detail.html",
        errors,
        view=view,
        key=key,
        linked=linked,
        chart=daily_spend_chart(series, title=f"Daily spend of {key.name}, last 30 days (UTC)"),
        series=series,
        forecast=(await forecasts(db, [view], now, tenant.id))[0],
        traffic=await gateway_traffic(db, now=now, tenant_id=tenant.id, lineage_id=key.lineage_id),
        form=form or KeyForm.of(key),
        models=sorted(await tenant_model_names(db, tenant)),
        **CHOICES,
    )


async def _rotate_page(
    ctx: TenantPage, now: datetime, key: ApiKey, grace: str = "24h", errors: dict[str, str] | None = None
) -> Response[Any]:
    return ctx.form("apikeys/rotate.html", errors, view=await view_of(ctx.db, key, now), grace=grace)


class ApiKeyPages(Controller):
    path = "/t/{slug:str}/api-keys"
    guards = [requires_tenant_member]
    dependencies = PAGES
    include_in_schema = False

    @get("/")
    async def index(
        self,
        ctx: PageCtx,
        now: Now,
        name: FromQuery[str] = "",
        state_filter: Annotated[str, QueryParameter(name="state")] = "",
        metadata: FromQuery[str] = "",
    ) -> Response[Any]:
        return await _index(ctx, now, filters={"name": name, "state": state_filter, "metadata": metadata})

    @post("/", guards=ADMIN)
    async def create(self, ctx: PageCtx, now: Now, data: Form[KeyForm]) -> Response[Any]:
        try:
            key, secret = await services.create_key(
                ctx.db, ctx.settings, ctx.actor, ctx.tenant, now=now, **data.terms()
            )
        except (InvalidInput, Conflict) as exc:
            return await _index(ctx, now, form=data, errors=form_errors(exc, "name"))
        flash(ctx.request, f"API key {key.name} created. Copy it now: it is shown only once.", "success")
        return await _secret_page(ctx, now, key, secret)

    @get("/{key_id:str}")
    async def detail(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        return await _detail(ctx, now, key)

    @post("/{key_id:str}", guards=ADMIN)
    async def update(self, ctx: PageCtx, now: Now, key: PathKey, data: Form[KeyForm]) -> Response[Any]:
        try:
            await services.update_key(ctx.db, ctx.actor, ctx.tenant, key, data.changes(key), now=now)
        except (InvalidInput, Conflict) as exc:
            return await _detail(ctx, now, key, form=data, errors=form_errors(exc, "name"))
        return ctx.redirect(_at(key), f"API key {key.name} saved.")

    @post("/{key_id:str}/increase-limit", guards=ADMIN)
    async def increase_limit(
        self, ctx: PageCtx, now: Now, key: PathKey, data: Form[AmountForm]
    ) -> Response[Any]:
        try:
            key = await services.increase_limit(ctx.db, ctx.actor, key, data.amount_usd, now=now)
        except (InvalidInput, Conflict) as exc:
            return await _detail(ctx, now, key, errors=form_errors(exc, "amount_usd"))
        return ctx.redirect(_at(key), f"Limit of {key.name} raised to {format_usd(key.limit_micros)}.")

    @post("/{key_id:str}/disable", guards=ADMIN)
    async def disable(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        await services.set_disabled(ctx.db, ctx.actor, ctx.tenant, key, True, now=now)
        return ctx.redirect(_at(key), f"API key {key.name} disabled: it is refused until enabled.")

    @post("/{key_id:str}/enable", guards=ADMIN)
    async def enable(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        await services.set_disabled(ctx.db, ctx.actor, ctx.tenant, key, False, now=now)
        return ctx.redirect(_at(key), f"API key {key.name} enabled.")

    @get("/{key_id:str}/rotate", guards=ADMIN)
    async def rotate_form(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        return await _rotate_page(ctx, now, key)

    @post("/{key_id:str}/rotate", guards=ADMIN)
    async def rotate(self, ctx: PageCtx, now: Now, key: PathKey, data: Form[GraceForm]) -> Response[Any]:
        grace = data.grace.strip() or "24h"
        try:
            new, secret = await services.rotate_key(
                ctx.db, ctx.settings, ctx.actor, ctx.tenant, key, grace, now=now
            )
        except (InvalidInput, Conflict) as exc:
            return await _rotate_page(ctx, now, key, grace, exc.field_errors("grace"))
        flash(
            ctx.request,
            f"API key {new.name} rotated. The old key works until {key.grace_ends_at:%Y-%m-%d %H:%M} UTC. "
            "Copy the new key now: it is shown only once.",
            "success",
        )
        return await _secret_page(ctx, now, new, secret, rotated=key)

    @get("/{key_id:str}/revoke", guards=ADMIN)
    async def revoke_form(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        view = await view_of(ctx.db, key, now)
        here = f"{ctx.url}{_at(key)}"
        confirm = Confirmation(
            title="Revoke API key",
            question=f"Revoke the API key {key.name}?",
            detail=f"Key {view.display}, {view.state}. Services using it are refused at once, on every "
            "worker within a second. This cannot be undone: a revoked key never works again.",
            action=f"{here}/revoke",
            button="Revoke API key",
            cancel=here,
        )
        return ctx.confirm(confirm)

    @post("/{key_id:str}/revoke", guards=ADMIN)
    async def revoke(self, ctx: PageCtx, now: Now, key: PathKey) -> Response[Any]:
        await services.revoke_key(ctx.db, ctx.actor, key, now=now)
        return ctx.redirect("/api-keys", f"API key {key.name} ({key.prefix}…{key.last_four}) revoked.")
