"""Demo API keys with three weeks of usage, so the usage charts and the 80 % warning have something
to show. Their secrets are not kept: create a key on the API keys page (or `portal keys create`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.services import create_key
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.base import utcnow
from portal.db.models import Tenant, UsageEvent


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
            events.append(
                UsageEvent(
                    api_key_id=prod.id,
                    lineage_id=prod.lineage_id,
                    tenant_id=tenant.id,
                    provider="openai",
                    model="gpt-4o-mini" if n % 2 else "gpt-4o",
                    input_tokens=1200 + 150 * n,
                    output_tokens=300 + 40 * n,
                    cost_micros=90_000 + 35_000 * ((day + n) % 5),
                    occurred_at=at + timedelta(minutes=7 * n),
                )
            )
    for day in range(9):
        events.append(
            UsageEvent(
                api_key_id=batch.id,
                lineage_id=batch.lineage_id,
                tenant_id=tenant.id,
                provider="openai",
                model="text-embedding-3-small",
                input_tokens=250_000,
                output_tokens=0,
                cost_micros=480_000,
                occurred_at=now - timedelta(days=9 - day, hours=1),
            )
        )
    db.add_all(events)
    await db.commit()
