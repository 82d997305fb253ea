"""Alembic environment, async; the database URL comes from the portal's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import portal.db.models  # noqa: F401  (fills the metadata)
from portal.db.base import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from portal.config import load_settings
    from portal.db.engine import create_engine

    connectable = config.attributes.get("engine")
    if connectable is None:
        connectable = create_engine(load_settings())
    async with connectable.connect() as connection:
        await connection.run_sync(_run)
    if "engine" not in config.attributes:
        await connectable.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run: portal db upgrade")
asyncio.run(_run_async()) if config.attributes.get("connection") is None else _run(
    config.attributes["connection"]
)
