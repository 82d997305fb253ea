"""Plans: presets of a spend limit and its reset period, per tenant (the defaults until edited)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.money import micros_to_usd
from portal.apikeys.rules import DEFAULT_PLANS, check_amount, check_reset_period
from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.db.models import ApiKeyPlan, Tenant
from portal.errors import InvalidInput


@dataclass(frozen=True)
class PlanView:
    name: str
    limit_micros: int
    reset_period: str
    edited: bool


async def list_plans(db: AsyncSession, tenant: Tenant) -> list[PlanView]:
    stored = {
        p.name: p for p in await db.scalars(select(ApiKeyPlan).where(ApiKeyPlan.tenant_id == tenant.id))
    }
    views = []
    for name, (limit, period) in DEFAULT_PLANS.items():
        row = stored.get(name)
        views.append(
            PlanView(name, row.limit_micros, row.reset_period, True)
            if row
            else PlanView(name, limit, period, False)
        )
    return views


async def find_plan(db: AsyncSession, tenant: Tenant, name: str) -> PlanView:
    """The tenant's plan of that name; InvalidInput naming the plans otherwise."""
    plans = {p.name: p for p in await list_plans(db, tenant)}
    chosen = plans.get(name.strip().lower())
    if chosen is None:
        raise InvalidInput({"plan": f"one of {', '.join(plans)}"})
    return chosen


def _check_plans(plans: Mapping[str, tuple[object, str]]) -> dict[str, tuple[int, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, tuple[int, str]] = {}
    for name, (limit, period) in plans.items():
        if name not in DEFAULT_PLANS:
            errors[name] = f"unknown plan; plans are {', '.join(DEFAULT_PLANS)}"
            continue
        try:
            clean[name] = (
                check_amount(limit, f"{name}_limit"),
                check_reset_period(period, f"{name}_reset", default="monthly"),
            )
        except InvalidInput as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    return clean


async def save_plans(
    db: AsyncSession, actor: Actor, tenant: Tenant, plans: Mapping[str, tuple[object, str]]
) -> list[PlanView]:
    """Change the presets: {plan: (limit in USD, reset period)}."""
    clean = _check_plans(plans)
    before = {p.name: p for p in await list_plans(db, tenant)}
    changed = {}
    for name, (micros, period) in clean.items():
        row = await db.get(ApiKeyPlan, (tenant.id, name))
        if row is None:
            db.add(ApiKeyPlan(tenant_id=tenant.id, name=name, limit_micros=micros, reset_period=period))
        else:
            row.limit_micros, row.reset_period = micros, period
        old = before[name]
        if (old.limit_micros, old.reset_period) != (micros, period):
            changed[name] = {"limit_usd": micros_to_usd(micros), "reset_period": period}
    if changed:
        await audit.record(
            db,
            actor,
            "api_key_plans.updated",
            tenant_id=tenant.id,
            target=f"tenant:{tenant.slug}",
            details=changed,
        )
    await db.flush()
    return await list_plans(db, tenant)
