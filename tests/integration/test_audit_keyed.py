"""The audit chain is keyed: someone who can write the database but lacks the server secret cannot
edit or remove an event and recompute the chain; anchors kept outside prove the newest events stay."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable

from click.testing import CliRunner, Result
from sqlalchemy import delete, select

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.audit.chain import Anchor, chain_head, rechain, verify_chain
from portal.cli import main
from portal.crypto.audit_key import AuditKey
from portal.db.models import AuditEvent
from tests.support.rows import remove_audit_event

ACTOR = Actor(label="auditor@example.com", ip="127.0.0.1")


async def _events(sessions, count: int) -> list[int]:
    ids = []
    async with sessions() as db:
        for n in range(count):
            event = await audit.record(
                db, ACTOR, "test.event", tenant_id=uuid.uuid4(), target=f"thing:{n}", details={"n": n}
            )
            await db.commit()
            ids.append(event.id)
    return ids


async def _rewrite_chain(sessions, digest: Callable[[AuditEvent], str], edit_id: int | None = None) -> None:
    """What an attacker with write access does: edit one event, then recompute every link."""
    async with sessions() as db:
        prev = audit.GENESIS
        for event in await db.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            if event.id == edit_id:
                event.details = {"n": "forged"}
            event.prev_hash = prev
            event.hash = prev = digest(event)
        await db.commit()


async def _cli(settings, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, ["audit", *args], env=dict(settings.environ))


async def test_an_edit_with_the_chain_recomputed_unkeyed_fails(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 4)
    await _rewrite_chain(sessions, audit.unkeyed_digest, edit_id=ids[1])
    async with sessions() as db:
        report = await verify_chain(db)
    assert not report.ok and report.broken_id == ids[0] and "without the audit key" in report.reason


async def test_an_edit_with_the_chain_recomputed_under_another_key_fails(fresh_database):
    settings, sessions = fresh_database
    ids = await _events(sessions, 4)
    wrong = AuditKey.derive(secrets.token_urlsafe(48))
    await _rewrite_chain(sessions, lambda event: audit.event_digest(event, wrong), edit_id=ids[2])
    async with sessions() as db:
        report = await verify_chain(db)
        assert (await verify_chain(db, key=wrong)).ok  # it would pass, had the attacker the key
    assert not report.ok and report.broken_id == ids[0] and "edited" in report.reason
    result = await _cli(settings, "verify")
    assert result.exit_code == 1 and f"BROKEN at event #{ids[0]}" in result.output


async def test_anchors_prove_the_newest_events_were_not_removed(fresh_database):
    settings, sessions = fresh_database
    ids = await _events(sessions, 6)
    async with sessions() as db:
        early = await chain_head(db)
    await _events(sessions, 2)
    anchored = await _cli(settings, "anchor")
    assert anchored.exit_code == 0, anchored.output
    late = Anchor.parse(anchored.output.strip())
    assert (await _cli(settings, "verify", "--anchor", str(early), "--anchor", str(late))).exit_code == 0

    async with sessions() as db:  # the newest events removed: the shorter chain is still valid…
        await db.execute(delete(AuditEvent).where(AuditEvent.id > ids[-1]))
        await db.commit()
        assert (await verify_chain(db)).ok
        assert (await verify_chain(db, anchors=[early])).ok
        report = await verify_chain(db, anchors=[early, late])  # …but not against the later anchor
    assert not report.ok and report.broken_id == late.event_id and "no longer in the chain" in report.reason
    assert (await _cli(settings, "verify", "--anchor", str(early))).exit_code == 0
    refused = await _cli(settings, "verify", "--anchor", str(late))
    assert refused.exit_code == 1 and f"anchored event #{late.event_id}" in refused.output


async def test_an_anchor_whose_event_was_rewritten_fails(fresh_database):
    _settings, sessions = fresh_database
    await _events(sessions, 3)
    async with sessions() as db:
        head = await chain_head(db)
    forged = Anchor(head.event_id, "f" * 64)
    async with sessions() as db:
        report = await verify_chain(db, anchors=[forged])
    assert not report.ok and report.broken_id == head.event_id and "anchored" in report.reason


async def test_removing_an_event_in_the_middle_fails_even_with_an_anchor(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 5)
    async with sessions() as db:
        head = await chain_head(db)
        await db.execute(delete(AuditEvent).where(AuditEvent.id == ids[2]))
        await db.commit()
        report = await verify_chain(db, anchors=[head])
    assert not report.ok and report.broken_id == ids[3] and "removed" in report.reason


async def test_a_bad_anchor_is_refused_naming_the_form(fresh_database):
    settings, _sessions = fresh_database
    result = await _cli(settings, "verify", "--anchor", "12-abc")
    assert result.exit_code == 2 and "ID:HASH" in result.output


async def test_rechain_keys_the_rows_written_before_the_upgrade_once(fresh_database):
    settings, sessions = fresh_database
    ids = await _events(sessions, 4)
    await _rewrite_chain(sessions, audit.unkeyed_digest)  # the chain as the previous version wrote it
    await _events(sessions, 2)  # written after the upgrade, keyed, linked to the unkeyed ones
    async with sessions() as db:
        before = await verify_chain(db)
    assert not before.ok and before.broken_id == ids[0] and "portal audit rechain" in before.reason

    result = await _cli(settings, "rechain")
    assert result.exit_code == 0, result.output
    assert "6 of 6 events re-hashed" in result.output  # the keyed ones link to re-hashed ones
    async with sessions() as db:
        assert (await verify_chain(db)).ok
        events = list(await db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert events[-1].action == "audit.rechained" and len(events) == 7
    assert (await _cli(settings, "verify")).exit_code == 0


async def test_rechain_refuses_unkeyed_rows_after_keyed_ones(fresh_database):
    """An attacker who downgrades an event written after the upgrade cannot have it laundered."""
    settings, sessions = fresh_database
    ids = await _events(sessions, 5)
    async with sessions() as db:
        prev = None
        for event in await db.scalars(
            select(AuditEvent).where(AuditEvent.id >= ids[3]).order_by(AuditEvent.id)
        ):
            if prev is not None:
                event.prev_hash = prev
            event.details = {"n": "forged"} if event.id == ids[3] else event.details
            event.hash = prev = audit.unkeyed_digest(event)
        await db.commit()
    result = await _cli(settings, "rechain")
    assert result.exit_code == 1 and f"broken at event #{ids[3]}" in result.output
    assert "only keyed ones may follow" in result.output
    async with sessions() as db:
        assert (await db.scalar(select(AuditEvent).where(AuditEvent.id == ids[3]))).details == {"n": "forged"}
        assert not (await verify_chain(db)).ok


async def test_rechain_of_a_broken_chain_changes_nothing(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 3)
    await remove_audit_event(sessions, ids[1])
    async with sessions() as db:
        report = await rechain(db, Actor.system("test"))
    assert report.broken is not None and report.broken.broken_id == ids[2] and report.rekeyed == 0
    async with sessions() as db:
        assert len(list(await db.scalars(select(AuditEvent.id)))) == 2
