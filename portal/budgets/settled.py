"""A budget's settled spend as the database knows it (the sum of its usage events in its period):
what every ledger starts a budget's period from."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys.spend import spent_query, tenant_spent_query
from portal.budgets.ledger import Budget


def owner_of(budget: Budget) -> tuple[str, uuid.UUID]:
    """("key", lineage id) or ("tenant", tenant id)."""
    kind, _, ref = budget.name.partition(":")
    if kind not in ("key", "tenant"):
        raise ValueError(f"unknown budget {budget.name!r}")
    return kind, uuid.UUID(ref)


def settled_query(budget: Budget) -> Select[Any]:
    kind, ref = owner_of(budget)
    return (spent_query if kind == "key" else tenant_spent_query)(ref, budget.start, budget.end)


async def settled_micros(db: AsyncSession, budget: Budget) -> int:
    return int(await db.scalar(settled_query(budget)) or 0)


async def load_settled(sessions: async_sessionmaker[AsyncSession], budget: Budget) -> int:
    async with sessions() as db:
        return await settled_micros(db, budget)
