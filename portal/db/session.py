"""Units of work: one transaction per request or command, opened at the edge.

Services only flush; the edge commits when the use case ends normally and rolls back when it
raises. The app's request dependency (portal.web.deps.provide_db), the CLI, the demo and the
tests all open their transactions here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.engine import create_engine, create_session_factory


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose transaction commits when the block ends and rolls back if it raises."""
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, async_sessionmaker[AsyncSession]]]:
    """An engine and its session factory for one command; the engine is disposed at the end."""
    engine = create_engine(settings)
    try:
        yield engine, create_session_factory(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def command_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """One command, one transaction (the CLI and the demo's seeding)."""
    async with database(settings) as (_engine, sessions), unit_of_work(sessions) as session:
        yield session
