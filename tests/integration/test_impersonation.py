"""Impersonation: started with a reason, visible on every page, limited to one tenant as its admin,
audited throughout (the tenant's admins see it), stopped by hand or after 60 minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from portal.db.models import User
from portal.web.auth import IMPERSONATION_KEY
from tests.support.api import credentials_url, new_tenant, portal_url
from tests.support.apps import client_for
from tests.support.rows import audit_rows
from tests.support.signin import ADMIN_EMAIL, impersonation_data, session_client, sign_in, with_csrf

IMPERSONATE = "/api/v1/admin/impersonate"
STOP = "/api/v1/admin/stop-impersonation"


@pytest.fixture
async def admin_client(app) -> AsyncIterator:
    """A platform admin signed in through the password form, in a session of its own."""
    async with client_for(app) as client:
        await sign_in(client)
        yield await with_csrf(client)


async def test_reason_and_session_are_required(app, api, admin_client):
    tenant = await new_tenant(api)
    blank = await admin_client.post(IMPERSONATE, json={"tenant_id": tenant["id"], "reason": "  "})
    assert blank.status_code == 400 and set(blank.json()["errors"]) == {"reason"}
    missing = await admin_client.post(IMPERSONATE, json={"tenant_id": tenant["id"]})
    assert missing.status_code == 400 and "reason" in missing.json()["errors"]
    unknown = await admin_client.post(IMPERSONATE, json={"tenant_id": "no-such-tenant", "reason": "x"})
    assert unknown.status_code == 404
    # The platform API key has no session to hold an impersonation.
    by_key = await api.post(IMPERSONATE, json={"tenant_id": tenant["id"], "reason": "because"})
    assert by_key.status_code == 403
    assert (await admin_client.post(STOP)).status_code == 409


async def test_impersonation_acts_as_tenant_admin_audited_and_stops(app, api, admin_client, make):
    tenant, other = await new_tenant(api, name="Impersonated Co"), await new_tenant(api)
    tenant_admin = await make.member(tenant["id"], "admin")

    started = await admin_client.post(
        IMPERSONATE, json={"tenant_id": tenant["slug"], "reason": "ticket 4711"}
    )
    assert started.status_code == 200, started.text
    body = started.json()
    assert (
        body["impersonating"] is True and body["slug"] == tenant["slug"] and body["reason"] == "ticket 4711"
    )

    # Every page names who impersonates whom, with a stop button.
    page = await admin_client.get(f"/t/{tenant['slug']}")
    assert page.status_code == 200
    assert 'id="impersonation_banner"' in page.text and "Impersonated Co" in page.text
    assert ADMIN_EMAIL in page.text and "ticket 4711" in page.text and "Stop impersonating" in page.text
    # Acting as that tenant's admin only: platform pages 403, other tenants 404.
    assert (await admin_client.get("/admin/tenants", follow_redirects=False)).status_code == 403
    assert (await admin_client.get("/api/v1/sysadmin/tenants")).status_code == 403
    assert (await admin_client.get(f"/t/{other['slug']}")).status_code == 404
    assert (await admin_client.get(portal_url(other, "/users"))).status_code == 404
    assert (
        await admin_client.post(IMPERSONATE, json={"tenant_id": other["id"], "reason": "x"})
    ).status_code == 403

    # A change made meanwhile: audited with the platform admin as impersonator, on the tenant.
    changed = await admin_client.put(
        credentials_url(tenant, "anthropic"), json={"api_key": "sk-while-impersonating-0001"}
    )
    assert changed.status_code == 200, changed.text
    [event] = await audit_rows(app, tenant["id"], action="credential.created") or [None]
    assert event is not None, [e.action for e in await audit_rows(app, tenant["id"])]
    assert event.impersonator == ADMIN_EMAIL and event.actor == ADMIN_EMAIL
    assert str(event.tenant_id) == tenant["id"]

    stopped = await admin_client.post(STOP)
    assert stopped.status_code == 200 and stopped.json() == {"impersonating": False} | {
        k: None for k in ("tenant_id", "slug", "tenant_name", "reason", "started_at", "expires_at")
    }
    assert 'id="impersonation_banner"' not in (await admin_client.get(f"/t/{tenant['slug']}")).text
    assert (await admin_client.get("/admin/tenants")).status_code == 200

    # The tenant's own admin sees all of it in the tenant's audit log.
    async with session_client(app, tenant_admin.id) as as_tenant_admin:
        log = (await as_tenant_admin.get(portal_url(tenant, "/audit"))).json()["events"]
        actions = [(e["action"], e["impersonator"]) for e in log]
        assert ("impersonation.started", None) in actions
        assert ("credential.created", ADMIN_EMAIL) in actions
        assert ("impersonation.stopped", ADMIN_EMAIL) in actions
        started_event = next(e for e in log if e["action"] == "impersonation.started")
        assert started_event["actor"] == ADMIN_EMAIL and started_event["details"]["reason"] == "ticket 4711"
        page = await as_tenant_admin.get(f"/t/{tenant['slug']}/audit")
        assert "impersonating: " + ADMIN_EMAIL in page.text


async def test_an_expired_impersonation_ends_and_is_audited(app, api):
    tenant = await new_tenant(api, name="Expiring Co")
    async with app.state.portal.sessions() as db:
        admin_id = await db.scalar(select(User.id).where(User.email == ADMIN_EMAIL))
    stale = impersonation_data(tenant, reason="old ticket", minutes_left=-1)
    async with session_client(app, admin_id, **{IMPERSONATION_KEY: stale}) as client:
        page = await client.get(f"/t/{tenant['slug']}")
        assert page.status_code == 200
        assert 'id="impersonation_banner"' not in page.text
        assert "Your impersonation of Expiring Co ended after 60 minutes." in page.text
        # Platform-wide again.
        assert (await client.get("/admin/tenants")).status_code == 200
    [event] = await audit_rows(app, tenant["id"], action="impersonation.expired")
    assert event.actor == ADMIN_EMAIL and event.details["reason"] == "old ticket"
    assert event.details["minutes"] >= 60


async def test_page_forms_start_and_stop(app, api, admin_client):
    tenant = await new_tenant(api, name="Form Co")
    overview = await admin_client.get(f"/t/{tenant['slug']}")
    assert "Impersonate Form Co" in overview.text
    refused = await admin_client.post("/admin/impersonate", data={"tenant_id": tenant["id"], "reason": ""})
    assert refused.status_code == 400 and 'id="e-reason"' in refused.text
    fragment = await admin_client.post(
        "/admin/impersonate",
        data={"tenant_id": tenant["id"], "reason": ""},
        headers={"hx-request": "true", "hx-target": "impersonate_form"},
    )
    assert fragment.status_code == 400 and "<html" not in fragment.text and 'id="e-reason"' in fragment.text
    started = await admin_client.post(
        "/admin/impersonate", data={"tenant_id": tenant["id"], "reason": "help"}
    )
    assert started.status_code == 303 and started.headers["location"] == f"/t/{tenant['slug']}"
    page = await admin_client.get(f"/t/{tenant['slug']}")
    assert "You are acting as an admin of Form Co" in page.text and 'id="impersonation_banner"' in page.text
    # While impersonating, the tenant's admin pages are open.
    assert (await admin_client.get(f"/t/{tenant['slug']}/members")).status_code == 200
    stopped = await admin_client.post("/admin/stop-impersonation")
    assert stopped.status_code == 303
    assert (
        "You stopped acting as an admin of Form Co"
        in (await admin_client.get(stopped.headers["location"])).text
    )
