"""Writing audit events into a hash chain; each event is part of its use case's transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.crypto.audit_key import AuditKey
from portal.db.base import utcnow
from portal.db.engine import audit_key_of
from portal.db.models import AuditEvent

GENESIS = "0" * 64
# Serialises writers of the chain on PostgreSQL (SQLite write transactions are serial already).
CHAIN_LOCK_ID = 7_331_001


def canonical_form(event: AuditEvent) -> bytes:
    body = {
        "prev": event.prev_hash,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "impersonator": event.impersonator,
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "action": event.action,
        "target": event.target,
        "outcome": event.outcome,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": event.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_digest(event: AuditEvent, key: AuditKey) -> str:
    """HMAC-SHA256 of the event and its link to the one before, under the server's audit key."""
    return key.digest(canonical_form(event))


def unkeyed_digest(event: AuditEvent) -> str:
    """The plain SHA-256 that events were chained with before the chain was keyed (re-chaining only)."""
    return hashlib.sha256(canonical_form(event)).hexdigest()


async def lock_chain(db: AsyncSession) -> None:
    """Serialise the chain's writers for the rest of the transaction."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": CHAIN_LOCK_ID})


async def record(
    db: AsyncSession,
    actor: Actor,
    action: str,
    *,
    tenant_id: uuid.UUID | None = None,
    target: str = "",
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction. `details` must never hold a secret."""
    await lock_chain(db)
    prev = await db.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        at=utcnow(),
        actor=actor.label,
        actor_user_id=actor.user_id,
        impersonator=actor.impersonator,
        tenant_id=tenant_id,
        action=action,
        target=target[:300],
        outcome=outcome,
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:300] or None,
        details=details or {},
        prev_hash=prev or GENESIS,
    )
    event.hash = event_digest(event, audit_key_of(db))
    db.add(event)
    return event


async def record_alone(db: AsyncSession, actor: Actor, action: str, **kwargs: Any) -> None:
    """Record an event in a transaction of its own (refusals, failures)."""
    await db.rollback()
    await record(db, actor, action, **kwargs)
    await db.commit()
