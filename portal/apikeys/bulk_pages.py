"""API-key pages that act on a tenant's keys together: the plans (presets of limit and reset), and
revoking every key older than an age (listed on the shared confirmation page first)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter

from portal.apikeys import services
from portal.apikeys.deps import BY_SLUG, Now
from portal.apikeys.forms import FORM, AgeForm, PlansForm
from portal.apikeys.money import usd_input
from portal.apikeys.pages import CHOICES, TAB
from portal.apikeys.plans import PlanView, list_plans, save_plans
from portal.apikeys.queries import list_keys, older_than
from portal.apikeys.rules import KeyView, check_duration
from portal.db.models import Tenant
from portal.errors import InvalidInput
from portal.tenants.deps import CurrentTenant
from portal.web.deps import CurrentActor, Db
from portal.web.guards import requires_tenant_admin, requires_tenant_member
from portal.web.templating import Confirmation, confirm_page, redirect_after_change, render, tenant_page


def _plans_form(plans: list[PlanView]) -> dict[str, str]:
    return {f"{p.name}_limit": usd_input(p.limit_micros) for p in plans} | {
        f"{p.name}_reset": p.reset_period for p in plans
    }


class ApiKeyBulkPages(Controller):
    path = "/t/{slug:str}/api-keys"
    guards = [requires_tenant_member]
    dependencies = BY_SLUG
    include_in_schema = False

    @get("/revoke-old", guards=[requires_tenant_admin])
    async def revoke_old_form(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        tenant: CurrentTenant,
        now: Now,
        older_than_text: Annotated[str, QueryParameter(name="older_than")] = "",
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        if older_than_text:
            try:
                age = check_duration(older_than_text, "older_than")
            except InvalidInput as exc:
                errors = exc.errors
            else:
                affected = older_than(await list_keys(db, tenant, now=now), now, age)
                if affected:
                    return self._confirm_revoke_old(request, tenant, older_than_text, affected)
        context = tenant_page(tenant, TAB, older_than=older_than_text, errors=errors, searched=not errors)
        return render(request, "apikeys/revoke_old.html", context, status_code=400 if errors else 200)

    def _confirm_revoke_old(
        self, request: Request[Any, Any, Any], tenant: Tenant, age: str, affected: list[KeyView]
    ) -> Response[Any]:
        count = f"{len(affected)} key{'s' if len(affected) != 1 else ''}"
        names = ", ".join(f"{v.key.name} ({v.display}, {v.state})" for v in affected)
        confirm = Confirmation(
            title="Revoke old API keys",
            question=f"Revoke every key older than {age}?",
            detail=f"{count} created more than {age} ago will be revoked: {names}. "
            "Services using them are refused at once. This cannot be undone.",
            action=f"/t/{tenant.slug}/api-keys/revoke-old",
            button=f"Revoke {count}",
            cancel=f"/t/{tenant.slug}/api-keys",
            fields={"older_than": age},
        )
        return confirm_page(request, confirm, **tenant_page(tenant, TAB))

    @post("/revoke-old", guards=[requires_tenant_admin])
    async def revoke_old(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        now: Now,
        data: Annotated[AgeForm, FORM],
    ) -> Response[Any]:
        try:
            keys = await services.revoke_older_than(db, actor, data.older_than, tenant=tenant, now=now)
        except InvalidInput as exc:
            context = tenant_page(tenant, TAB, older_than=data.older_than, errors=exc.errors, searched=False)
            return render(request, "apikeys/revoke_old.html", context, status_code=400)
        return redirect_after_change(
            request, f"/t/{tenant.slug}/api-keys", f"Revoked {len(keys)} key(s) older than {data.older_than}."
        )

    async def _plans(
        self,
        request: Request[Any, Any, Any],
        tenant: Tenant,
        plans: list[PlanView],
        form: dict[str, str],
        errors: dict[str, str] | None = None,
    ) -> Response[Any]:
        context = tenant_page(tenant, TAB, plans=plans, form=form, errors=errors or {}, **CHOICES)
        return render(request, "apikeys/plans.html", context, status_code=400 if errors else 200)

    @get("/plans")
    async def plans_form(
        self, request: Request[Any, Any, Any], db: Db, tenant: CurrentTenant
    ) -> Response[Any]:
        plans = await list_plans(db, tenant)
        return await self._plans(request, tenant, plans, _plans_form(plans))

    @post("/plans", guards=[requires_tenant_admin])
    async def save_plans(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        actor: CurrentActor,
        tenant: CurrentTenant,
        data: Annotated[PlansForm, FORM],
    ) -> Response[Any]:
        plans = await list_plans(db, tenant)
        form = {
            f"{p.name}_{part}": data.get(f"{p.name}_{part}", "") for p in plans for part in ("limit", "reset")
        }
        try:
            await save_plans(
                db, actor, tenant, {p.name: (form[f"{p.name}_limit"], form[f"{p.name}_reset"]) for p in plans}
            )
        except InvalidInput as exc:
            return await self._plans(request, tenant, plans, form, exc.errors)
        return redirect_after_change(request, f"/t/{tenant.slug}/api-keys/plans", "Plans saved.")
