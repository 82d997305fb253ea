"""Which spend ledger the app uses: Redis where REDIS_URL is set (any number of processes and
hosts), else the database ledger on PostgreSQL (any number of processes), else the memory ledger
(SQLite: one process)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.budgets.database import DatabaseLedger
from portal.budgets.ledger import Ledger
from portal.budgets.memory import MemoryLedger
from portal.budgets.redis_ledger import RedisLedger
from portal.config import Settings


def ledger_for(settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> Ledger:
    if settings.redis_url:
        return RedisLedger(settings, sessions)
    if not settings.is_sqlite:
        return DatabaseLedger(engine)
    return MemoryLedger(sessions)
