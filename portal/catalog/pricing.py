"""Editing a model's prices: platform admins for built-in models, a tenant's admins for the models of
their custom providers. Validated first, audited, and only flushed. The audit event tells the
gateway's hot path to reload (portal.apikeys.changes: a `model.` action of a tenant reloads that
tenant, one without a tenant the whole catalogue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.catalog.prices import Prices, describe, max_output_tokens, price_to_micros
from portal.catalog.services import prices_of, require_custom, set_prices_of
from portal.catalog.spec import builtin_specs
from portal.db.base import utcnow
from portal.db.models import Model, Tenant
from portal.errors import InvalidInput

INPUT, OUTPUT, MAX_OUTPUT = "input_usd_per_million", "output_usd_per_million", "max_output_tokens"


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_prices(input_usd: object, output_usd: object, max_output: object) -> Prices:
    """Prices from what a person typed: USD per million tokens (both, or neither for 'not priced')
    and the longest answer in tokens (or empty); every problem at once, beside its field."""
    errors: dict[str, str] = {}
    values: dict[str, int | None] = {}
    for field, value, parse in (
        (INPUT, input_usd, price_to_micros),
        (OUTPUT, output_usd, price_to_micros),
        (MAX_OUTPUT, max_output, max_output_tokens),
    ):
        try:
            values[field] = None if _blank(value) else parse(value)
        except ValueError as exc:
            errors[field] = str(exc)
    if not errors and (values[INPUT] is None) != (values[OUTPUT] is None):
        missing = INPUT if values[INPUT] is None else OUTPUT
        errors[missing] = "give both prices (0 is a price), or leave both empty for 'not priced'"
    if errors:
        raise InvalidInput(errors)
    return Prices(values[INPUT], values[OUTPUT], values[MAX_OUTPUT])


async def set_model_prices(
    db: AsyncSession,
    actor: Actor,
    model: Model,
    *,
    tenant: Tenant | None,
    input_usd: object,
    output_usd: object,
    max_output: object = None,
    now: datetime | None = None,
) -> Model:
    """Set a model's prices. `tenant` None: a platform admin on a built-in model; otherwise that
    tenant's admin on a model of one of its custom providers. The start-up sync keeps an edit."""
    if tenant is not None:
        require_custom(model.provider, tenant, "editing prices")
    elif not model.provider.is_builtin:
        raise InvalidInput({"model": "only built-in models are priced from the platform catalogue"})
    new = check_prices(input_usd, output_usd, max_output)
    old = prices_of(model)
    set_prices_of(model, new)
    model.prices_edited_at = now or utcnow()
    await _audit(db, actor, model, tenant, old, new, "model.prices_changed")
    return model


async def reset_model_prices(db: AsyncSession, actor: Actor, model: Model) -> Model:
    """A built-in model back to its shipped list prices; the start-up sync updates it again."""
    shipped = builtin_specs().get(model.provider.name) if model.provider.is_builtin else None
    spec = next((m for m in shipped.models if m.name == model.name), None) if shipped else None
    if spec is None:
        raise InvalidInput({"model": "only models of the shipped catalogue have list prices"})
    old = prices_of(model)
    set_prices_of(model, spec.prices)
    model.prices_edited_at = None
    await _audit(db, actor, model, None, old, spec.prices, "model.prices_reset")
    return model


async def _audit(
    db: AsyncSession, actor: Actor, model: Model, tenant: Tenant | None, old: Prices, new: Prices, action: str
) -> None:
    await audit.record(
        db,
        actor,
        action,
        tenant_id=tenant.id if tenant else None,
        target=f"model:{model.provider.name}/{model.name}",
        details=_diff(old, new),
    )
    await db.flush()


def _diff(old: Prices, new: Prices) -> dict[str, Any]:
    return {
        "from": describe(old),
        "to": describe(new),
        MAX_OUTPUT: {"from": old.max_output_tokens, "to": new.max_output_tokens},
    }
