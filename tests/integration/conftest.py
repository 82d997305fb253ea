"""A database of its own, for tests that change global state (rotation, the catalogue)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from tests.support import create_pg_database, drop_pg_database, make_settings, need_service


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_database(
    request, tmp_path
) -> AsyncIterator[tuple[Settings, async_sessionmaker[AsyncSession]]]:
    if request.param == "postgres":
        need_service("PostgreSQL", "127.0.0.1", 5432)
        url = await create_pg_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    settings = make_settings(tmp_path, url)
    await upgrade(settings)
    engine = create_engine(settings)
    yield settings, create_session_factory(engine)
    await engine.dispose()
    if request.param == "postgres":
        await drop_pg_database(url)
