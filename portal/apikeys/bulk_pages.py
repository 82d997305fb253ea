"""API-key pages that act on a tenant's keys together: the plans (presets of limit and reset), and
revoking every key older than an age (listed on the shared confirmation page first)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.params import QueryParameter

from portal.apikeys import services
from portal.apikeys.deps import PAGES, Now
from portal.apikeys.forms import AgeForm, PlansForm
from portal.apikeys.money import usd_input
from portal.apikeys.pages import CHOICES
from portal.apikeys.plans import PlanView, list_plans, save_plans
from portal.apikeys.queries import list_keys, older_than
from portal.apikeys.rules import KeyView, check_duration
from portal.errors import InvalidInput
from portal.tenants.deps import PageCtx
from portal.web.forms import Form
from portal.web.guards import ADMIN, requires_tenant_member
from portal.web.templating import Confirmation, TenantPage

REVOKE_OLD = "apikeys/revoke_old.html"


def _plans_form(plans: list[PlanView]) -> dict[str, str]:
    return {f"{p.name}_limit": usd_input(p.limit_micros) for p in plans} | {
        f"{p.name}_reset": p.reset_period for p in plans
    }


def _confirm_revoke_old(ctx: TenantPage, age: str, affected: list[KeyView]) -> Response[Any]:
    count = f"{len(affected)} key{'s' if len(affected) != 1 else ''}"
    names = ", ".join(f"{v.key.name} ({v.display}, {v.state})" for v in affected)
    confirm = Confirmation(
        title="Revoke old API keys",
        question=f"Revoke every key older than {age}?",
        detail=f"{count} created more than {age} ago will be revoked: {names}. "
        "Services using them are refused at once. This cannot be undone.",
        action=f"{ctx.url}/api-keys/revoke-old",
        button=f"Revoke {count}",
        cancel=f"{ctx.url}/api-keys",
        fields={"older_than": age},
    )
    return ctx.confirm(confirm)


class ApiKeyBulkPages(Controller):
    path = "/t/{slug:str}/api-keys"
    guards = [requires_tenant_member]
    dependencies = PAGES
    include_in_schema = False

    @get("/revoke-old", guards=ADMIN)
    async def revoke_old_form(
        self, ctx: PageCtx, now: Now, older_than_text: Annotated[str, QueryParameter(name="older_than")] = ""
    ) -> Response[Any]:
        errors: dict[str, str] = {}
        if older_than_text:
            try:
                age = check_duration(older_than_text, "older_than")
            except InvalidInput as exc:
                errors = exc.errors
            else:
                affected = older_than(await list_keys(ctx.db, ctx.tenant, now=now), now, age)
                if affected:
                    return _confirm_revoke_old(ctx, older_than_text, affected)
        return ctx.form(REVOKE_OLD, errors, older_than=older_than_text, searched=not errors)

    @post("/revoke-old", guards=ADMIN)
    async def revoke_old(self, ctx: PageCtx, now: Now, data: Form[AgeForm]) -> Response[Any]:
        try:
            keys = await services.revoke_older_than(
                ctx.db, ctx.actor, data.older_than, tenant=ctx.tenant, now=now
            )
        except InvalidInput as exc:
            return ctx.form(REVOKE_OLD, exc.errors, older_than=data.older_than, searched=False)
        return ctx.redirect("/api-keys", f"Revoked {len(keys)} key(s) older than {data.older_than}.")

    @get("/plans")
    async def plans_form(self, ctx: PageCtx) -> Response[Any]:
        plans = await list_plans(ctx.db, ctx.tenant)
        return ctx.form("apikeys/plans.html", plans=plans, form=_plans_form(plans), **CHOICES)

    @post("/plans", guards=ADMIN)
    async def save_plans(self, ctx: PageCtx, data: Form[PlansForm]) -> Response[Any]:
        plans = await list_plans(ctx.db, ctx.tenant)
        form = {
            f"{p.name}_{part}": data.get(f"{p.name}_{part}", "") for p in plans for part in ("limit", "reset")
        }
        try:
            await save_plans(
                ctx.db,
                ctx.actor,
                ctx.tenant,
                {p.name: (form[f"{p.name}_limit"], form[f"{p.name}_reset"]) for p in plans},
            )
        except InvalidInput as exc:
            return ctx.form("apikeys/plans.html", exc.errors, plans=plans, form=form, **CHOICES)
        return ctx.redirect("/api-keys/plans", "Plans saved.")
