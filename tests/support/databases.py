"""Test databases: PostgreSQL databases of their own, and the clean slate every test starts from."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

import portal.db.models  # noqa: F401  (every table in the metadata)
from portal.db.base import Base
from tests.support.env import PG_ADMIN_DSN

# Parents before children; children are emptied first.
TABLES: list[Table] = list(Base.metadata.sorted_tables)
SEED_SCHEMA = "clean_slate"  # PostgreSQL: the copy of the seeded rows, beside the app's tables


async def create_pg_database() -> str:
    import asyncpg

    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class CleanSlate:
    """The rows a database held when the snapshot was taken (for the session's app: the platform
    admin, the built-in catalogue and their audit events); `restore()` brings every table back to
    exactly those rows, in one transaction, and numbering starts again after them.

    SQLite deletes and re-inserts through SQLAlchemy (a few milliseconds). PostgreSQL keeps a copy
    of the seeded rows in a schema of its own and runs the whole restore as one script, one round
    trip: DELETE on these small tables is several times faster than TRUNCATE, which makes new
    files for every table it empties."""

    def __init__(self, engine: AsyncEngine, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.engine = engine
        self.rows = rows
        self._script = ""

    @classmethod
    async def snapshot(cls, engine: AsyncEngine) -> CleanSlate:
        async with engine.connect() as conn:
            rows = {
                table.name: [dict(row) for row in (await conn.execute(select(table))).mappings()]
                for table in TABLES
            }
        slate = cls(engine, rows)
        if engine.dialect.name == "postgresql":
            await slate._keep_seed_in_postgres()
        return slate

    async def restore(self) -> None:
        if self._script:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                await raw.driver_connection.execute(self._script)  # type: ignore[union-attr]
            return
        async with self.engine.begin() as conn:
            for table in reversed(TABLES):
                await conn.execute(table.delete())
            for table in TABLES:
                if self.rows[table.name]:
                    await conn.execute(table.insert(), self.rows[table.name])

    async def _keep_seed_in_postgres(self) -> None:
        seeded = [t.name for t in TABLES if self.rows[t.name]]
        copies = [f'CREATE TABLE {SEED_SCHEMA}."{name}" AS TABLE public."{name}";' for name in seeded]
        setup = f"DROP SCHEMA IF EXISTS {SEED_SCHEMA} CASCADE; CREATE SCHEMA {SEED_SCHEMA};"
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(" ".join([setup, *copies]))  # type: ignore[union-attr]
        steps = ["BEGIN;"]
        steps += [f'DELETE FROM public."{t.name}";' for t in reversed(TABLES)]
        steps += [f'INSERT INTO public."{name}" SELECT * FROM {SEED_SCHEMA}."{name}";' for name in seeded]
        for table in TABLES:
            column = table.autoincrement_column
            if column is not None:
                top = f'(SELECT max("{column.name}") FROM public."{table.name}")'
                steps.append(
                    f"SELECT setval(pg_get_serial_sequence('public.\"{table.name}\"', '{column.name}'), "
                    f"COALESCE({top}, 1), {top} IS NOT NULL);"
                )
        steps.append("COMMIT;")
        self._script = "\n".join(steps)
