"""A database of its own, for tests that change global state (rotation, the catalogue)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.asgi import create_app
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


HTTPS_URL = "https://portal.example.com"


@pytest.fixture(scope="module")
async def https_app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app on the tests' database, with PUBLIC_URL at an https address."""
    application = create_app(dataclasses.replace(settings, public_url=HTTPS_URL))
    for hook in application.on_startup:
        await hook(application)
    yield application
    for hook in application.on_shutdown:
        await hook(application)
