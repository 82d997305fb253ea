"""Checking the audit log's hash chain: an edited or removed event breaks it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.services import GENESIS, event_digest
from portal.db.models import AuditEvent

BATCH = 1000


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_id: int | None = None
    broken_action: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


async def verify_chain(db: AsyncSession, *, batch: int = BATCH) -> ChainReport:
    """Walk every event in id order; name the first whose contents or link to its predecessor
    do not match. (Removing only the newest events leaves a shorter chain that still verifies.)"""
    expected_prev, prev_id, last_id, checked = GENESIS, None, 0, 0
    while True:
        rows = list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
            )
        )
        if not rows:
            return ChainReport(checked=checked)
        for event in rows:
            if event_digest(event) != event.hash:
                return ChainReport(
                    checked, event.id, event.action, "its contents do not match its hash: the row was edited"
                )
            if event.prev_hash != expected_prev:
                after = f"event #{prev_id}" if prev_id is not None else "the start of the chain"
                return ChainReport(
                    checked,
                    event.id,
                    event.action,
                    f"it does not follow {after}: an event between them was removed, "
                    "or the one before was altered",
                )
            expected_prev, prev_id, last_id = event.hash, event.id, event.id
            checked += 1
        db.expunge_all()
