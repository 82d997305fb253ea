"""API-key pages: list and filter, create (the secret shown once), detail with spend, edit, rotate,
disable, revoke (with confirmation), revoke old keys, plans.

Thin controllers: forms arrive as typed structs (portal.apikeys.forms), the path's key is loaded by
a dependency (404 for another tenant's), and each page's context is built in one place."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, QueryParameter
from litestar.plugins.flash import flash
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys import services
from portal.apikeys.charts import daily_spend_chart
from portal.apikeys.deps import BY_SLUG, Now, PathKey
from portal.apikeys.forms import (
    FORM,
    AmountForm,
    GraceForm,
    KeyForm,
    form_errors,
)
from portal.apikeys.money import format_usd
from portal.apikeys.plans import list_plans
from portal.apikeys.queries import (
    KeyFilter,
    find_key,
    list_keys,
    tenant_model_names,
    view_of,
)
from portal.apikeys.refusals import NO_STORE
from portal.apikeys.rules import NAME_HINT, RESET_PERIODS, SCOPES, STATES
from portal.apikeys.spend import daily_series, forecasts
from portal.db.models import ApiKey, Tenant
from portal.errors import Conflict, InvalidInput
from portal.tenants.deps import CurrentTenant
from portal.web.deps import CurrentActor, CurrentSettings, Db
from portal.web.guards import requires_tenant_admin, requires_tenant_member
from portal.web.templating import Confirmation, confirm_page, redirect_after_change, render, tenant_page

TAB = "api-keys"
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
}
CHOICES = {"scopes": SCOPES, "reset_periods": RESET_PERIODS, "labels": LABELS}


def _errors(exc: InvalidInput | Conflict, field: str) -> dict[str, str]:
    """Field errors of a refused change; a conflict is shown beside `field`."""
    return form_errors(exc) if isinstance(exc, InvalidInput) else {field: exc.message}


def _secret_page(request: Request[Any, Any, Any], tenant: Tenant, **context: Any) -> Response[Any]:
    """The new key's secret, shown this once and never cached."""
    response = render(request, "apikeys/secret.html", tenant_page(tenant, TAB, **context))
    response.headers.update(NO_STORE)
    return response


class ApiKeyPages(Controller):
    path = "/t/{slug:str}/api-keys"
    guards = [requires_tenant_member]
    dependencies = BY_SLUG
    include_in_schema = False

    async def _index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        *,
        filters: dict[str, str] | None = None,
        form: KeyForm | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        filters = filters or {}
        every = await list_keys(db, tenant, now=now)  # once: the warnings are of every key
        try:
            wanted = KeyFilter.of(
                filters.get("name", ""), filters.get("state", ""), [filters.get("metadata", "")]
            )
            views, filter_error = wanted.select(every), None
        except InvalidInput as exc:
            views, filter_error = [], "; ".join(exc.errors.values())
        context = tenant_page(
            tenant,
            TAB,
            views=views,
            warnings=[v for v in every if v.warning],
            filters=filters,
            filter_error=filter_error,
            states=STATES,
            plans=await list_plans(db, tenant),
            models=sorted(await tenant_model_names(db, tenant)),
            form=form or KeyForm.new(),
            errors=errors or {},
            name_hint=NAME_HINT,
            **CHOICES,
        )
        return render(request, "apikeys/index.html", context, status_code=status_code)

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        tenant: CurrentTenant,
        now: Now,
        name: FromQuery[str] = "",
        state_filter: Annotated[str, QueryParameter(name="state")] = "",
        metadata: FromQuery[str] = "",
    ) -> Response[Any]:
        filters = {"name": name, "state": state_filter, "metadata": metadata}
        return await self._index(request, db, tenant, now, filters=filters)

    @post("/", guards=[requires_tenant_admin])
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        data: Annotated[KeyForm, FORM],
    ) -> Response[Any]:
        try:
            key, secret = await services.create_key(
                db,
                settings,
                actor,
                tenant,
                now=now,
                name=data.name,
                scopes=data.scopes,
                allowed_models=data.allowed_models,
                limit_usd=data.limit_usd or None,
                reset_period=data.reset_period or None,
                plan=data.plan or None,
                expires_at=data.expires_at(),
                metadata=data.metadata or None,
            )
        except (InvalidInput, Conflict) as exc:
            errors = _errors(exc, "name")
            return await self._index(request, db, tenant, now, form=data, errors=errors, status_code=400)
        flash(request, f"API key {key.name} created. Copy it now: it is shown only once.", "success")
        return _secret_page(request, tenant, view=await view_of(db, key, now), secret=secret)

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        key: ApiKey,
        *,
        form: KeyForm | None = None,
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        view = await view_of(db, key, now)
        series = await daily_series(db, now=now, days=30, tenant_id=tenant.id, lineage_id=key.lineage_id)
        linked = {
            other_id: await find_key(db, other_id, tenant)
            for other_id in (key.rotated_from_id, key.replaced_by_id)
            if other_id is not None
        }
        context = tenant_page(
            tenant,
            TAB,
            view=view,
            key=key,
            linked=linked,
            chart=daily_spend_chart(series, title=f"Daily spend of {key.name}, last 30 days (UTC)"),
            series=series,
            forecast=(await forecasts(db, [view], now, tenant.id))[0],
            form=form or KeyForm.of(key),
            errors=errors or {},
            models=sorted(await tenant_model_names(db, tenant)),
            **CHOICES,
        )
        return render(request, "apikeys/detail.html", context, status_code=400 if errors else 200)

    @get("/{key_id:str}")
    async def detail(
        self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant, now: Now, key: PathKey
    ) -> Response[Any]:
        return await self._detail(request, db, tenant, now, key)

    @post("/{key_id:str}", guards=[requires_tenant_admin])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
        data: Annotated[KeyForm, FORM],
    ) -> Response[Any]:
        try:
            await services.update_key(db, actor, tenant, key, data.changes(key), now=now)
        except (InvalidInput, Conflict) as exc:
            return await self._detail(request, db, tenant, now, key, form=data, errors=_errors(exc, "name"))
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys/{key.id}", f"API key {key.name} saved."
        )

    @post("/{key_id:str}/increase-limit", guards=[requires_tenant_admin])
    async def increase_limit(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
        data: Annotated[AmountForm, FORM],
    ) -> Response[Any]:
        try:
            key = await services.increase_limit(db, actor, key, data.amount_usd, now=now)
        except (InvalidInput, Conflict) as exc:
            return await self._detail(request, db, tenant, now, key, errors=_errors(exc, "amount_usd"))
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/api-keys/{key.id}",
            f"Limit of {key.name} raised to {format_usd(key.limit_micros)}.",
        )

    @post("/{key_id:str}/disable", guards=[requires_tenant_admin])
    async def disable(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
    ) -> Response[Any]:
        await services.set_disabled(db, actor, tenant, key, True, now=now)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/api-keys/{key.id}",
            f"API key {key.name} disabled: it is refused until enabled.",
        )

    @post("/{key_id:str}/enable", guards=[requires_tenant_admin])
    async def enable(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
    ) -> Response[Any]:
        await services.set_disabled(db, actor, tenant, key, False, now=now)
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys/{key.id}", f"API key {key.name} enabled."
        )

    async def _rotate_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        key: ApiKey,
        grace: str = "24h",
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        context = tenant_page(tenant, TAB, view=await view_of(db, key, now), grace=grace, errors=errors or {})
        return render(request, "apikeys/rotate.html", context, status_code=400 if errors else 200)

    @get("/{key_id:str}/rotate", guards=[requires_tenant_admin])
    async def rotate_form(
        self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant, now: Now, key: PathKey
    ) -> Response[Any]:
        return await self._rotate_page(request, db, tenant, now, key)

    @post("/{key_id:str}/rotate", guards=[requires_tenant_admin])
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
        data: Annotated[GraceForm, FORM],
    ) -> Response[Any]:
        grace = data.grace.strip() or "24h"
        try:
            new, secret = await services.rotate_key(db, settings, actor, tenant, key, grace, now=now)
        except (InvalidInput, Conflict) as exc:
            errors = exc.errors if isinstance(exc, InvalidInput) else {"grace": exc.message}
            return await self._rotate_page(request, db, tenant, now, key, grace, errors)
        flash(
            request,
            f"API key {new.name} rotated. The old key works until {key.grace_ends_at:%Y-%m-%d %H:%M} UTC. "
            "Copy the new key now: it is shown only once.",
            "success",
        )
        return _secret_page(request, tenant, view=await view_of(db, new, now), secret=secret, rotated=key)

    @get("/{key_id:str}/revoke", guards=[requires_tenant_admin])
    async def revoke_form(
        self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant, now: Now, key: PathKey
    ) -> Response[Any]:
        view = await view_of(db, key, now)
        confirm = Confirmation(
            title="Revoke API key",
            question=f"Revoke the API key {key.name}?",
            detail=f"Key {view.display}, {view.state}. Services using it are refused at once, on every "
            "worker within a second. This cannot be undone: a revoked key never works again.",
            action=f"/t/{tenant.slug}/api-keys/{key.id}/revoke",
            button="Revoke API key",
            cancel=f"/t/{tenant.slug}/api-keys/{key.id}",
        )
        return confirm_page(request, confirm, **tenant_page(tenant, TAB))

    @post("/{key_id:str}/revoke", guards=[requires_tenant_admin])
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        key: PathKey,
    ) -> Response[Any]:
        await services.revoke_key(db, actor, key, now=now)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/api-keys",
            f"API key {key.name} ({key.prefix}…{key.last_four}) revoked.",
        )
