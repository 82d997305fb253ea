"""The audit log: hash chain verified and tamper detected (edited, removed rows) on SQLite and
PostgreSQL through `portal audit verify`; pages and API with filters, paging and CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

from click.testing import CliRunner, Result
from sqlalchemy import select, text, update

from portal.audit import services as audit
from portal.audit.actor import Actor
from portal.audit.chain import ChainReport, verify_chain
from portal.cli import main
from portal.db.engine import audit_key_of
from portal.db.models import AuditEvent
from tests.support.api import new_tenant, portal_url
from tests.support.rows import remove_audit_event
from tests.support.signin import session_client


async def _cli_verify(settings) -> Result:
    env = dict(settings.environ)
    return await asyncio.to_thread(CliRunner().invoke, main, ["audit", "verify"], env=env)


async def _events(sessions, count: int = 5) -> list[int]:
    ids = []
    async with sessions() as db:
        tenant_id = uuid.uuid4()
        for n in range(count):
            event = await audit.record(
                db,
                Actor(label=f"person{n}@example.com", ip="127.0.0.1"),
                "test.event",
                tenant_id=tenant_id,
                target=f"thing:{n}",
                details={"n": n, "note": "ünïcode ✓", "nested": {"a": [1, 2]}},
            )
            await db.commit()
            ids.append(event.id)
    return ids


async def _verified_without(sessions, event_id: int) -> ChainReport:
    """Removes one event, as a tamperer would, then verifies the chain."""
    await remove_audit_event(sessions, event_id)
    async with sessions() as db:
        return await verify_chain(db)


async def test_chain_verifies_and_an_edited_details_is_named(fresh_database):
    settings, sessions = fresh_database
    ids = await _events(sessions)
    async with sessions() as db:
        assert (await verify_chain(db)).ok
    result = await _cli_verify(settings)
    assert result.exit_code == 0, result.output
    assert f"Audit chain intact: {len(ids)} events verified." in result.output

    victim = ids[2]
    async with sessions() as db:
        await db.execute(update(AuditEvent).where(AuditEvent.id == victim).values(details={"n": 99}))
        await db.commit()
        report = await verify_chain(db)
    assert not report.ok and report.broken_id == victim and "edited" in report.reason
    result = await _cli_verify(settings)
    assert result.exit_code == 1
    assert f"BROKEN at event #{victim} (test.event)" in result.output and "edited" in result.output


async def test_an_edited_actor_through_raw_sql_is_named(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 3)
    async with sessions() as db:
        await db.execute(
            text("UPDATE audit_events SET actor = 'someone-else@example.com' WHERE id = :id"), {"id": ids[0]}
        )
        await db.commit()
        report = await verify_chain(db)
    assert report.broken_id == ids[0] and report.checked == 0


async def test_a_re_hashed_edit_is_caught_at_the_next_event(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 4)
    async with sessions() as db:
        event = await db.scalar(select(AuditEvent).where(AuditEvent.id == ids[1]))
        event.details = {"forged": True}
        event.hash = audit.event_digest(event, audit_key_of(db))  # a tamperer with the key, this row only
        await db.commit()
        report = await verify_chain(db)
    assert report.broken_id == ids[2] and f"event #{ids[1]}" in report.reason


async def test_a_removed_event_is_detected(fresh_database):
    settings, sessions = fresh_database
    ids = await _events(sessions, 5)
    report = await _verified_without(sessions, ids[2])
    assert not report.ok and report.broken_id == ids[3] and "removed" in report.reason
    result = await _cli_verify(settings)
    assert result.exit_code == 1 and f"#{ids[3]}" in result.output


async def test_removing_the_first_event_is_detected(fresh_database):
    _settings, sessions = fresh_database
    ids = await _events(sessions, 3)
    report = await _verified_without(sessions, ids[0])
    assert report.broken_id == ids[1] and "start of the chain" in report.reason


async def test_the_whole_suite_database_chain_verifies(app):
    async with app.state.portal.sessions() as db:
        report = await verify_chain(db)
    assert report.ok, report


async def test_tenant_audit_page_filters_pages_and_exports(app, api, make):
    tenant = await new_tenant(api, name="Audited Co")
    admin = await make.member(tenant["id"], "admin")
    member = await make.member(tenant["id"], "member")
    for n in range(55):
        await api.post(portal_url(tenant, "/invitations"), json={"email": f"p{n:02d}@example.com"})
    other = await new_tenant(api, name="Elsewhere")
    await api.post(portal_url(other, "/invitations"), json={"email": "not-here@example.com"})
    base = f"/t/{tenant['slug']}/audit"
    async with session_client(app, admin.id) as client, session_client(app, member.id) as as_member:
        assert (await as_member.get(base)).status_code == 403
        page = await client.get(base)
        assert page.status_code == 200 and "Page 1 of 2" in page.text
        assert "not-here@example.com" not in page.text
        filtered = await client.get(base, params={"action": "invitation.created", "target": "p07"})
        assert filtered.text.count('id="event-') == 1 and "p07@example.com" in filtered.text
        by_actor = await client.get(base, params={"actor": "api-key"})
        assert by_actor.text.count('id="event-') == 50
        second = await client.get(base, params={"page": 2})
        assert "Page 2 of 2" in second.text
        none_yet = await client.get(base, params={"since": "2999-01-01"})
        assert "0 events" in none_yet.text
        bad = await client.get(base, params={"since": "yesterday"})
        assert bad.status_code == 400 and 'id="e-since"' in bad.text
        fragment = await client.get(
            base, params={"action": "member."}, headers={"hx-request": "true", "hx-target": "audit_results"}
        )
        assert "<html" not in fragment.text and "0 events" in fragment.text

        export = await client.get(f"{base}/csv", params={"action": "invitation.created"})
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        assert "attachment" in export.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert len(rows) == 57  # the two members' invitations and the 55 made here
        assert {r["tenant"] for r in rows} == {tenant["slug"]}
        assert int(rows[0]["id"]) < int(rows[-1]["id"])  # oldest first

        api_log = (await client.get(portal_url(tenant, "/audit"), params={"per_page": 5})).json()
        assert api_log["total"] >= 59 and len(api_log["events"]) == 5


async def test_platform_audit_page_spans_tenants(app, api, browser_session):
    client, _token = browser_session
    first, second = await new_tenant(api, name="First"), await new_tenant(api, name="Second")
    page = await client.get("/admin/audit", params={"action": "tenant.created"})
    assert page.status_code == 200 and first["slug"] in page.text and second["slug"] in page.text
    only = await client.get("/admin/audit", params={"tenant": first["slug"], "action": "tenant."})
    assert only.text.count('id="event-') == 1
    unknown = await client.get("/admin/audit", params={"tenant": "no-such-tenant"})
    assert unknown.status_code == 400 and "no tenant no-such-tenant" in unknown.text
    export = await client.get("/admin/audit/csv", params={"tenant": second["id"]})
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["action"] for r in rows] == ["tenant.created"]
    listed = (await api.get("/api/v1/admin/audit", params={"tenant": first["id"]})).json()
    assert [e["action"] for e in listed["events"]] == ["tenant.created"]


async def test_csv_cells_never_start_a_formula(app, api, browser_session):
    client, _ = browser_session
    tenant = await new_tenant(api)
    async with app.state.portal.sessions() as db:
        await audit.record(
            db, Actor(label="=HYPERLINK(1)"), "test.formula", tenant_id=uuid.UUID(tenant["id"])
        )
        await db.commit()
    export = await client.get("/admin/audit/csv", params={"tenant": tenant["id"], "action": "test."})
    assert ",'=HYPERLINK(1)," in export.text
