"""Engine and session factory; SQLite gets WAL, foreign keys and write-intent transactions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from portal.config import Settings
from portal.crypto.audit_key import AuditKey

READ_ONLY_OPTION = "portal_read_only"
# The engine carries the audit chain's key (derived from API_KEY_SECRET, never stored), so every
# session that records an event can key it without each caller passing settings along.
AUDIT_KEY_OPTION = "portal_audit_key"


async def mark_read_only(session: AsyncSession) -> None:
    """Begin this session's transaction as a reader (SQLite: deferred; elsewhere no effect)."""
    await session.connection(execution_options={READ_ONLY_OPTION: True})


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url
    # Bound values (sealed secrets among them) never appear in error messages or logs.
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("execution_options", {})[AUDIT_KEY_OPTION] = AuditKey.derive(settings.api_key_secret)
    if settings.is_sqlite:
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted rows are overwritten with zeros, not left in free pages (a deleted tenant's
        # wrapped data key and sealed secrets must not be carvable from the file).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers wait for each other instead of
        # failing with "database is locked" when one upgrades its read lock. Reads (safe HTTP
        # methods) begin deferred, so page views never queue behind writers.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


async def shred_wal(engine: AsyncEngine) -> bool:
    """SQLite: copy the WAL into the database file and truncate it to zero bytes, so the older page
    images it holds (a deleted tenant's rows among them) are gone. True when the WAL was emptied;
    False when a reader kept it busy (elsewhere than SQLite: nothing to do, True)."""
    if engine.dialect.name != "sqlite":
        return True
    async with engine.connect() as connection:

        def checkpoint(sync_connection: Any) -> bool:
            # Straight on the driver's connection: SQLAlchemy would wrap it in BEGIN IMMEDIATE,
            # and a checkpoint cannot run inside a transaction.
            cursor = sync_connection.connection.dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _log_frames, _checkpointed = cursor.fetchone()
            finally:
                cursor.close()
            return busy == 0

        return bool(await connection.run_sync(checkpoint))


def audit_key_of(session: AsyncSession) -> AuditKey:
    key = session.get_bind().get_execution_options().get(AUDIT_KEY_OPTION)
    if key is None:
        raise RuntimeError("the session's engine has no audit key: make it with db.engine.create_engine")
    return key


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
