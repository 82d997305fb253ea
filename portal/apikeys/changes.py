"""What the resolve hot path must forget when something changes, taken from committed transactions.

Every change worth knowing is audited in its own transaction (the services' rule), and every usage
report adds a usage event. So a session listener reads the audit and usage rows a transaction adds
(gateway usage, inserted in bulk without ORM objects, is named with `note`) and, once it commits,
hands the resulting changes to the sink registered for that engine: the app's in-memory cache
(which also publishes them to Redis for the other workers) or, for the command line, a Redis
publisher. Workers without Redis find the same rows by polling the tables.
"""

from __future__ import annotations

import json
import logging
import uuid
import weakref
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.db.models import AuditEvent, UsageEvent

log = logging.getLogger("portal.hotpath")

# (kind, ref): ("key", key id), ("tenant", tenant id), ("spend", lineage id), ("catalog", "*"), ("all", "*")
Change = tuple[str, str]
PENDING = "portal_hotpath_changes"
TENANT_SCOPED = ("tenant.", "credential.", "model.", "provider.")
IGNORED = {"credential.tested"}  # changes only the last test result


class ChangeSink(Protocol):
    def on_commit(self, changes: list[Change]) -> None: ...


# Weak both ways: an app (and its engine) that is dropped without shutting down is not kept alive.
_sinks: weakref.WeakKeyDictionary[Engine, weakref.ref[ChangeSink]] = weakref.WeakKeyDictionary()


def changes_from_audit(action: str, tenant_id: uuid.UUID | str | None, target: str) -> list[Change]:
    if action in IGNORED:
        return []
    if action.startswith("api_key."):
        kind, _, ref = target.partition(":")
        return [("key", ref)] if kind == "api_key" and ref else [("all", "*")]
    if action.startswith(TENANT_SCOPED):
        return [("tenant", str(tenant_id))] if tenant_id else [("catalog", "*")]
    if action.startswith(("catalog.", "master_key.")):
        return [("catalog", "*")] if action.startswith("catalog.") else [("all", "*")]
    return []


def register(engine: AsyncEngine | Engine, sink: ChangeSink) -> None:
    install()
    _sinks[engine.sync_engine if isinstance(engine, AsyncEngine) else engine] = weakref.ref(sink)


def unregister(engine: AsyncEngine | Engine) -> None:
    _sinks.pop(engine.sync_engine if isinstance(engine, AsyncEngine) else engine, None)


def note(session: Session | AsyncSession, changes: list[Change]) -> None:
    """Name changes a transaction makes without ORM objects (a bulk INSERT of usage rows): they reach
    the hot path after it commits, like those the listener finds."""
    target = session.sync_session if isinstance(session, AsyncSession) else session
    target.info.setdefault(PENDING, []).extend(changes)


def _collect(session: Session, _context: Any, _instances: Any) -> None:
    found: list[Change] = []
    for obj in session.new:
        if isinstance(obj, AuditEvent):
            found.extend(changes_from_audit(obj.action, obj.tenant_id, obj.target))
        elif isinstance(obj, UsageEvent):
            found.append(("spend", str(obj.lineage_id)))
    if found:
        session.info.setdefault(PENDING, []).extend(found)


def _after_commit(session: Session) -> None:
    changes = session.info.pop(PENDING, None)
    if not changes:
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    ref = _sinks.get(engine) if engine is not None else None
    sink = ref() if ref is not None else None
    if sink is not None:
        sink.on_commit(list(dict.fromkeys(changes)))


def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)


_installed = False


def install() -> None:
    """Listen on every ORM session of the process (once)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _collect)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", lambda session, _previous: _after_rollback(session))
    _installed = True


def channel_for(settings: Settings) -> str:
    """The Redis channel of the processes that share this database (and only those)."""
    return settings.redis_prefix("hotpath")


class ChangePublisher:
    """For processes without a hot path (the command line): send committed changes to Redis."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.channel = channel_for(settings)
        self._batches: list[list[Change]] = []
        register(engine, self)

    def on_commit(self, changes: list[Change]) -> None:
        self._batches.append(changes)

    async def flush(self) -> None:
        unregister(self.engine)
        if not self._batches or not self.settings.redis_url:
            return
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.settings.redis_url)
        try:
            payload = json.dumps({"origin": "cli", "changes": [c for b in self._batches for c in b]})
            await client.publish(self.channel, payload)
        except Exception as exc:  # the servers' poll picks the change up anyway
            log.warning("could not tell the servers through Redis (%s); they will see it within seconds", exc)
        finally:
            await client.aclose()
