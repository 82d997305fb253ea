"""Demo API keys with three weeks of usage, so the usage charts and the 80 % warning have something
to show. Their secrets are not kept: create a key on the API keys page (or `portal keys create`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.services import create_key
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import ApiKey, Tenant, UsageEvent


async def seed_api_keys(db: AsyncSession, settings: Settings, actor: Actor, tenant: Tenant) -> None:
    now = utcnow()
    prod, _ = await create_key(
        db,
        settings,
        actor,
        tenant,
        name="prod-api-resolver-202611",
        scopes=["resolve", "usage:write"],
        plan="pro",
        metadata={"env": "prod", "service": "api"},
        now=now - timedelta(days=21),
    )
    batch, _ = await create_key(
        db,
        settings,
        actor,
        tenant,
        name="staging-batch-embeddings-202611",
        scopes=["inference"],
        limit_usd="5.00",
        reset_period="none",
        metadata={"env": "staging", "service": "batch"},
        now=now - timedelta(days=10),
    )
    events = []
    for day in range(21):
        at = now - timedelta(days=21 - day, hours=3)
        for n in range(1 + day % 4):
            model = "gpt-4o-mini" if n % 2 else "gpt-4o"
            cost = 90_000 + 35_000 * ((day + n) % 5)
            events.append(
                _used(prod, model, 1200 + 150 * n, 300 + 40 * n, cost, at + timedelta(minutes=7 * n))
            )
    for day in range(9):
        at = now - timedelta(days=9 - day, hours=1)
        events.append(_used(batch, "text-embedding-3-small", 250_000, 0, 480_000, at))
    db.add_all(events)
    await db.commit()


def _used(
    key: ApiKey, model: str, input_tokens: int, output_tokens: int, cost: int, at: datetime
) -> UsageEvent:
    """One OpenAI call the key made."""
    return UsageEvent(
        api_key_id=key.id,
        lineage_id=key.lineage_id,
        tenant_id=key.tenant_id,
        provider="openai",
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_micros=cost,
        occurred_at=at,
    )
