"""A database of its own, for tests that change global state (rotation, the catalogue); the app
at an https address."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.config import Settings
from portal.db.migrate import upgrade
from portal.db.session import database
from tests.support.apps import running_app
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.env import make_settings, need_service, sqlite_url


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_database(
    request: pytest.FixtureRequest, tmp_path
) -> AsyncIterator[tuple[Settings, async_sessionmaker[AsyncSession]]]:
    if request.param == "postgres":
        need_service("PostgreSQL", "127.0.0.1", 5432)
        url = await create_pg_database()
    else:
        url = sqlite_url(tmp_path, "fresh.db")
    settings = make_settings(tmp_path, url)
    await upgrade(settings)
    async with database(settings) as (_engine, sessions):
        yield settings, sessions
    if request.param == "postgres":
        await drop_pg_database(url)


HTTPS_URL = "https://portal.example.com"


@pytest.fixture(scope="module")
async def https_app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app on the tests' database, with PUBLIC_URL at an https address."""
    async with running_app(dataclasses.replace(settings, public_url=HTTPS_URL)) as application:
        yield application
