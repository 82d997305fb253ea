"""Checking the audit log's keyed hash chain: an edited or removed event breaks it.

Each event's hash is HMAC-SHA256 (under a key derived from a server secret that is not in the
database) of its contents and its predecessor's hash. Removing only the newest events still leaves
a valid, shorter chain: an anchor (`ID:HASH` of an event, kept outside the database) proves the
chain still holds that event, and so everything before it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.actor import Actor
from portal.audit.queries import in_batches
from portal.audit.services import GENESIS, event_digest, lock_chain, record, unkeyed_digest
from portal.crypto.audit_key import AuditKey
from portal.db.engine import audit_key_of
from portal.db.models import AuditEvent

BATCH = 1000
ANCHOR_FORMAT = re.compile(r"^(\d+):([0-9a-f]{64})$")
NOT_KEYED = (
    "it was chained without the audit key (written before the upgrade that keyed the chain, "
    "or rewritten by someone without the key): after an upgrade run `portal audit rechain` once"
)


@dataclass(frozen=True)
class Anchor:
    event_id: int
    hash: str

    @classmethod
    def parse(cls, raw: str) -> Anchor:
        """`ID:HASH` as printed by `portal audit anchor`; ValueError naming the expected form."""
        match = ANCHOR_FORMAT.match(raw.strip().lower())
        if not match:
            raise ValueError(f"anchor {raw!r}: expected ID:HASH, e.g. 42:{'0' * 64}")
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.event_id}:{self.hash}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_id: int | None = None
    broken_action: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


async def _events(db: AsyncSession, batch: int) -> AsyncIterator[AuditEvent]:
    async for rows in in_batches(db, select(AuditEvent), batch):
        for event in rows:
            yield event


def _unlinked(prev_id: int | None) -> str:
    after = f"event #{prev_id}" if prev_id is not None else "the start of the chain"
    return f"it does not follow {after}: an event between them was removed, or the one before was altered"


async def verify_chain(
    db: AsyncSession,
    *,
    key: AuditKey | None = None,
    anchors: Sequence[Anchor] = (),
    batch: int = BATCH,
) -> ChainReport:
    """Walk every event in id order; name the first whose contents or link to its predecessor do
    not match, then check that each anchor's event is still in the chain with its hash."""
    key = key or audit_key_of(db)
    wanted = {anchor.event_id: anchor.hash for anchor in anchors}
    expected_prev, prev_id, checked = GENESIS, None, 0
    async for event in _events(db, batch):
        if event_digest(event, key) != event.hash:
            reason = (
                NOT_KEYED
                if unkeyed_digest(event) == event.hash
                else "its contents do not match its hash: the row was edited (or the audit key changed)"
            )
            return ChainReport(checked, event.id, event.action, reason)
        if event.prev_hash != expected_prev:
            return ChainReport(checked, event.id, event.action, _unlinked(prev_id))
        if event.id in wanted and wanted.pop(event.id) != event.hash:
            return ChainReport(
                checked, event.id, event.action, "its hash is not the anchored one: the chain was rewritten"
            )
        expected_prev, prev_id = event.hash, event.id
        checked += 1
    if wanted:
        missing = min(wanted)
        return ChainReport(
            checked,
            missing,
            None,
            f"the anchored event #{missing} is no longer in the chain: it (and maybe events after it) "
            "was removed",
        )
    return ChainReport(checked)


async def chain_head(db: AsyncSession) -> Anchor | None:
    """The newest event as an anchor, to keep outside the database."""
    newest = select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    row = (await db.execute(newest)).first()
    return Anchor(row.id, row.hash) if row else None


@dataclass(frozen=True)
class RechainReport:
    checked: int
    rekeyed: int
    broken: ChainReport | None = None


async def rechain(db: AsyncSession, actor: Actor, *, batch: int = BATCH) -> RechainReport:
    """Re-hash the chain under the audit key, once, after the upgrade that keyed it.

    Only an intact chain is re-hashed: every link must hold as stored, and events chained without
    the key may only form its beginning (the events written before the upgrade). A forged event
    in unkeyed form after a keyed one stops it, and nothing is changed. Commits on success.
    """
    key = audit_key_of(db)
    await lock_chain(db)
    stored_prev, new_prev, prev_id = GENESIS, GENESIS, None
    checked = rekeyed = 0
    seen_keyed = False
    async for event in _events(db, batch):
        keyed = event_digest(event, key) == event.hash
        legacy = not seen_keyed and not keyed and unkeyed_digest(event) == event.hash
        problem = None
        if not (keyed or legacy):
            problem = NOT_KEYED if unkeyed_digest(event) == event.hash else "its contents do not match"
            if seen_keyed:
                problem += "; after a keyed event only keyed ones may follow"
        elif event.prev_hash != stored_prev:
            problem = _unlinked(prev_id)
        if problem:
            broken = ChainReport(checked, event.id, event.action, problem)
            await db.rollback()  # expires the events: read them before
            return RechainReport(checked, 0, broken)
        seen_keyed = seen_keyed or keyed
        stored_prev, prev_id = event.hash, event.id
        event.prev_hash = new_prev
        new_hash = event_digest(event, key)
        if new_hash != event.hash:
            event.hash = new_hash
            rekeyed += 1
        new_prev = new_hash
        checked += 1
    await db.flush()
    await record(db, actor, "audit.rechained", target="audit:chain", details={"rekeyed": rekeyed})
    await db.commit()
    return RechainReport(checked, rekeyed)
