"""API-key pages: list and filter, create (the secret shown once), detail with spend, edit, rotate,
disable, revoke (with confirmation), revoke old keys, plans."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter
from litestar.plugins.flash import flash as _flash
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys import services
from portal.apikeys.deps import BY_SLUG
from portal.apikeys.periods import parse_duration
from portal.apikeys.refusals import NO_STORE
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.models import Tenant
from portal.errors import Conflict, InvalidInput
from portal.usage import services as usage
from portal.usage.charts import daily_spend_chart
from portal.web.forms import FormData, text
from portal.web.guards import requires_tenant_admin, requires_tenant_member
from portal.web.templating import redirect_after_change, render

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


def _values(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name, [])
    return [str(v) for v in (value if isinstance(value, list) else [value]) if str(v).strip()]


def _expiry(raw: str) -> datetime | None:
    """A date from the form (UTC midnight at the start of that day); InvalidInput beside the field."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput({"expires_on": "a date such as 2027-01-31"}) from exc
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _form_errors(exc: InvalidInput) -> dict[str, str]:
    renamed = {"expires_at": "expires_on", "expires_in": "expires_on"}
    return {renamed.get(k, k): v for k, v in exc.errors.items()}


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
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        filters = filters or {}
        try:
            wanted = services.parse_metadata_filter([filters.get("metadata", "")])
            views = await services.list_keys(
                db,
                tenant,
                now=now,
                name=filters.get("name", ""),
                state=filters.get("state", ""),
                metadata=wanted,
            )
            filter_error = None
        except InvalidInput as exc:
            views, filter_error = [], "; ".join(exc.errors.values())
        all_views = views if not any(filters.values()) else await services.list_keys(db, tenant, now=now)
        context = {
            "tenant": tenant,
            "tab": "api-keys",
            "views": views,
            "warnings": [v for v in all_views if v.warning],
            "filters": filters,
            "filter_error": filter_error,
            "states": services.STATES,
            "plans": await services.list_plans(db, tenant),
            "models": sorted(await services.tenant_model_names(db, tenant)),
            "scopes": services.SCOPES,
            "reset_periods": services.RESET_PERIODS,
            "form": form or {"scopes": list(services.DEFAULT_SCOPES), "reset_period": "monthly"},
            "errors": errors or {},
            "labels": LABELS,
            "name_hint": services.NAME_HINT,
        }
        return render(request, "apikeys/index.html", context, status_code=status_code)

    @get("/")
    async def index(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        name: str = "",
        state_filter: str = QueryParameter(name="state", default=""),
        metadata: str = "",
    ) -> Response[Any]:
        filters = {"name": name, "state": state_filter, "metadata": metadata}
        return await self._index(request, db, tenant, now, filters=filters)

    @post("/", guards=[requires_tenant_admin])
    async def create(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        data: FormData,
    ) -> Response[Any]:
        form = {
            k: text(data, k) for k in ("name", "plan", "limit_usd", "reset_period", "expires_on", "metadata")
        }
        form["scopes"] = _values(data, "scopes")
        form["allowed_models"] = _values(data, "allowed_models")
        try:
            expires_at = _expiry(form["expires_on"])
            key, secret = await services.create_key(
                db,
                settings,
                actor,
                tenant,
                now=now,
                name=form["name"],
                scopes=form["scopes"],
                allowed_models=form["allowed_models"],
                limit_usd=form["limit_usd"] or None,
                reset_period=form["reset_period"] or None,
                plan=form["plan"] or None,
                expires_at=expires_at,
                metadata=form["metadata"] or None,
            )
        except (InvalidInput, Conflict) as exc:
            errors = _form_errors(exc) if isinstance(exc, InvalidInput) else {"name": exc.message}
            return await self._index(request, db, tenant, now, form=form, errors=errors, status_code=400)
        _flash(request, f"API key {key.name} created. Copy it now: it is shown only once.", "success")
        view = await services.view_of(db, key, now)
        response = render(
            request,
            "apikeys/secret.html",
            {"tenant": tenant, "tab": "api-keys", "view": view, "secret": secret},
        )
        response.headers.update(NO_STORE)
        return response

    @get("/revoke-old", guards=[requires_tenant_admin])
    async def revoke_old_form(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        older_than: str = "",
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        affected: list[services.KeyView] | None = None
        if older_than:
            try:
                age = parse_duration(older_than)
                views = await services.list_keys(db, tenant, now=now)
                affected = [v for v in views if v.key.revoked_at is None and v.key.created_at < now - age]
            except ValueError as exc:
                errors["older_than"] = str(exc)
        return render(
            request,
            "apikeys/revoke_old.html",
            {
                "tenant": tenant,
                "tab": "api-keys",
                "older_than": older_than,
                "affected": affected,
                "errors": errors,
            },
            status_code=400 if errors else 200,
        )

    @post("/revoke-old", guards=[requires_tenant_admin])
    async def revoke_old(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        data: FormData,
    ) -> Response[Any]:
        older_than = text(data, "older_than")
        try:
            keys = await services.revoke_older_than(db, actor, older_than, tenant=tenant, now=now)
        except InvalidInput as exc:
            return render(
                request,
                "apikeys/revoke_old.html",
                {
                    "tenant": tenant,
                    "tab": "api-keys",
                    "older_than": older_than,
                    "affected": None,
                    "errors": exc.errors,
                },
                status_code=400,
            )
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys", f"Revoked {len(keys)} key(s) older than {older_than}."
        )

    @get("/plans")
    async def plans_form(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant
    ) -> Response[Any]:
        plans = await services.list_plans(db, tenant)
        form = {f"{p.name}_limit": f"{p.limit_micros / 1e6:g}" for p in plans} | {
            f"{p.name}_reset": p.reset_period for p in plans
        }
        return render(
            request,
            "apikeys/plans.html",
            {
                "tenant": tenant,
                "tab": "api-keys",
                "plans": plans,
                "form": form,
                "errors": {},
                "reset_periods": services.RESET_PERIODS,
            },
        )

    @post("/plans", guards=[requires_tenant_admin])
    async def save_plans(
        self, request: Request[Any, Any, Any], db: AsyncSession, actor: Actor, tenant: Tenant, data: FormData
    ) -> Response[Any]:
        plans = await services.list_plans(db, tenant)
        form = {
            f"{p.name}_{part}": text(data, f"{p.name}_{part}") for p in plans for part in ("limit", "reset")
        }
        try:
            await services.save_plans(
                db, actor, tenant, {p.name: (form[f"{p.name}_limit"], form[f"{p.name}_reset"]) for p in plans}
            )
        except InvalidInput as exc:
            return render(
                request,
                "apikeys/plans.html",
                {
                    "tenant": tenant,
                    "tab": "api-keys",
                    "plans": plans,
                    "form": form,
                    "errors": exc.errors,
                    "reset_periods": services.RESET_PERIODS,
                },
                status_code=400,
            )
        return redirect_after_change(request, f"/t/{tenant.slug}/api-keys/plans", "Plans saved.")

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        tenant: Tenant,
        now: datetime,
        key_id: str,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        view = await services.view_of(db, key, now)
        series = await usage.daily_series(
            db, now=now, days=30, tenant_id=tenant.id, lineage_id=key.lineage_id
        )
        forecast = (await usage.forecasts(db, [view], now, tenant.id))[0]
        linked = {}
        for other_id in (key.rotated_from_id, key.replaced_by_id):
            if other_id is not None:
                linked[other_id] = await services.find_key(db, other_id, tenant)
        form = form or {
            "name": key.name,
            "scopes": list(key.scopes),
            "allowed_models": list(key.allowed_models),
            "limit_usd": "" if key.limit_micros is None else f"{key.limit_micros / 1e6:g}",
            "reset_period": key.reset_period,
            "expires_on": key.expires_at.date().isoformat() if key.expires_at else "",
            "metadata": json.dumps(key.key_metadata) if key.key_metadata else "",
        }
        context = {
            "tenant": tenant,
            "tab": "api-keys",
            "view": view,
            "key": key,
            "linked": linked,
            "chart": daily_spend_chart(series, title=f"Daily spend of {key.name}, last 30 days (UTC)"),
            "series": series,
            "forecast": forecast,
            "form": form,
            "errors": errors or {},
            "labels": LABELS,
            "models": sorted(await services.tenant_model_names(db, tenant)),
            "scopes": services.SCOPES,
            "reset_periods": services.RESET_PERIODS,
        }
        return render(request, "apikeys/detail.html", context, status_code=status_code)

    @get("/{key_id:str}")
    async def detail(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, now: datetime, key_id: str
    ) -> Response[Any]:
        return await self._detail(request, db, tenant, now, key_id)

    @post("/{key_id:str}", guards=[requires_tenant_admin])
    async def update(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
        data: FormData,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        form = {k: text(data, k) for k in ("name", "limit_usd", "reset_period", "expires_on", "metadata")}
        form["scopes"] = _values(data, "scopes")
        form["allowed_models"] = _values(data, "allowed_models")
        try:
            expires_at = _expiry(form["expires_on"])
            changes: dict[str, Any] = {
                "name": form["name"],
                "scopes": form["scopes"],
                "allowed_models": form["allowed_models"],
                "limit_usd": form["limit_usd"] or None,
                "reset_period": form["reset_period"],
                "metadata": form["metadata"] or {},
            }
            if expires_at != key.expires_at:
                changes["expires_at"] = expires_at
            await services.update_key(db, actor, tenant, key, changes, now=now)
        except (InvalidInput, Conflict) as exc:
            errors = _form_errors(exc) if isinstance(exc, InvalidInput) else {"name": exc.message}
            return await self._detail(
                request, db, tenant, now, key_id, form=form, errors=errors, status_code=400
            )
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys/{key.id}", f"API key {key.name} saved."
        )

    @post("/{key_id:str}/increase-limit", guards=[requires_tenant_admin])
    async def increase_limit(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
        data: FormData,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        try:
            key = await services.increase_limit(db, actor, key, text(data, "amount_usd"), now=now)
        except InvalidInput as exc:
            return await self._detail(request, db, tenant, now, key_id, errors=exc.errors, status_code=400)
        except Conflict as exc:
            return await self._detail(
                request, db, tenant, now, key_id, errors={"amount_usd": exc.message}, status_code=400
            )
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/api-keys/{key.id}",
            f"Limit of {key.name} raised to ${key.limit_micros / 1e6:,.2f}.",  # type: ignore[operator]
        )

    @post("/{key_id:str}/disable", guards=[requires_tenant_admin])
    async def disable(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
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
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        await services.set_disabled(db, actor, tenant, key, False, now=now)
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys/{key.id}", f"API key {key.name} enabled."
        )

    @get("/{key_id:str}/rotate", guards=[requires_tenant_admin])
    async def rotate_form(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, now: datetime, key_id: str
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        view = await services.view_of(db, key, now)
        return render(
            request,
            "apikeys/rotate.html",
            {"tenant": tenant, "tab": "api-keys", "view": view, "grace": "24h", "errors": {}},
        )

    @post("/{key_id:str}/rotate", guards=[requires_tenant_admin])
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        settings: Settings,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
        data: FormData,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        grace = text(data, "grace").strip() or "24h"
        try:
            new, secret = await services.rotate_key(db, settings, actor, tenant, key, grace, now=now)
        except (InvalidInput, Conflict) as exc:
            view = await services.view_of(db, key, now)
            errors = exc.errors if isinstance(exc, InvalidInput) else {"grace": exc.message}
            return render(
                request,
                "apikeys/rotate.html",
                {"tenant": tenant, "tab": "api-keys", "view": view, "grace": grace, "errors": errors},
                status_code=400,
            )
        _flash(
            request,
            f"API key {new.name} rotated. The old key works until {key.grace_ends_at:%Y-%m-%d %H:%M} UTC. "
            "Copy the new key now: it is shown only once.",
            "success",
        )
        view = await services.view_of(db, new, now)
        response = render(
            request,
            "apikeys/secret.html",
            {"tenant": tenant, "tab": "api-keys", "view": view, "secret": secret, "rotated": key},
        )
        response.headers.update(NO_STORE)
        return response

    @get("/{key_id:str}/revoke", guards=[requires_tenant_admin])
    async def revoke_form(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, now: datetime, key_id: str
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        view = await services.view_of(db, key, now)
        return render(request, "apikeys/revoke.html", {"tenant": tenant, "tab": "api-keys", "view": view})

    @post("/{key_id:str}/revoke", guards=[requires_tenant_admin])
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: Actor,
        tenant: Tenant,
        now: datetime,
        key_id: str,
    ) -> Response[Any]:
        key = await services.find_key(db, key_id, tenant)
        await services.revoke_key(db, actor, key, now=now)
        return redirect_after_change(
            request,
            f"/t/{tenant.slug}/api-keys",
            f"API key {key.name} ({key.prefix}…{key.last_four}) revoked.",
        )
