"""Applying the Alembic revision chain from code (CLI, serve, tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.config import REPO_ROOT, Settings
from portal.db.engine import create_engine

ALEMBIC_INI = REPO_ROOT / "migrations" / "alembic.ini"


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


async def upgrade(settings: Settings, revision: str = "head", engine: AsyncEngine | None = None) -> None:
    own = engine is None
    engine = engine or create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_sync, revision)
    finally:
        if own:
            await engine.dispose()


def _upgrade_sync(connection: Any, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade_blocking(settings: Settings, revision: str = "head") -> None:
    asyncio.run(upgrade(settings, revision))
