"""A tenant's monthly spend limit: set by platform admins only, validated, audited, and seen by the
gateway's hot path at once."""

from __future__ import annotations

import uuid

import pytest

from portal.audit.actor import Actor
from portal.db.models import Tenant
from portal.errors import Forbidden, InvalidInput
from portal.tenants.services import set_monthly_limit
from tests.integration.helpers import TENANTS, audit_rows, new_tenant

PLATFORM = Actor.system("test")
TENANT_ADMIN = Actor(label="admin@tenant.example", user_id=uuid.uuid4())


async def test_platform_admins_set_it_and_the_hot_path_sees_it(api, app):
    created = await new_tenant(api, name="Limited")
    tenant_id = uuid.UUID(created["id"])
    store = app.state.hotpath.store
    assert (await store.tenant(tenant_id)).monthly_limit_micros is None
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, tenant_id)
        await set_monthly_limit(db, PLATFORM, tenant, "250.50")
        await set_monthly_limit(db, PLATFORM, tenant, "$250.50")  # no change: no second event
        await db.commit()
    assert (await store.tenant(tenant_id)).monthly_limit_micros == 250_500_000
    [event] = await audit_rows(app, created["id"], action="tenant.limit_changed")
    assert event.details == {"monthly_limit_usd": {"from": None, "to": 250.5}}
    async with app.state.portal.sessions() as db:
        await set_monthly_limit(db, PLATFORM, await db.get_one(Tenant, tenant_id), "none")
        await db.commit()
    assert (await store.tenant(tenant_id)).monthly_limit_micros is None


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("-1", "must be more than 0"),
        ("0", "must be more than 0"),
        ("lots", "a dollar amount"),
        ("2000000", "at most"),
    ],
)
async def test_bad_limits_are_refused_beside_the_field(api, app, typed, problem):
    created = await new_tenant(api, name="Refused")
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, uuid.UUID(created["id"]))
        with pytest.raises(InvalidInput) as info:
            await set_monthly_limit(db, PLATFORM, tenant, typed)
        assert problem in info.value.errors["monthly_limit_usd"]
        assert tenant.monthly_limit_micros is None


async def test_a_tenant_admin_cannot_set_it(api, app):
    created = await new_tenant(api, name="Self-served")
    async with app.state.portal.sessions() as db:
        tenant = await db.get_one(Tenant, uuid.UUID(created["id"]))
        with pytest.raises(Forbidden):
            await set_monthly_limit(db, TENANT_ADMIN, tenant, "1000")
        assert tenant.monthly_limit_micros is None


async def test_the_json_api_and_the_pages(api, app, browser_session):
    client, token = browser_session
    created = await new_tenant(api, name="Limit pages")
    url = f"{TENANTS}/{created['id']}/monthly-limit"
    assert created["monthly_limit_usd"] is None
    done = await api.put(url, json={"monthly_limit_usd": "750"})
    assert done.status_code == 200 and done.json()["monthly_limit_usd"] == 750
    assert (await api.get(f"{TENANTS}/{created['id']}")).json()["monthly_limit_usd"] == 750
    bad = await api.put(url, json={"monthly_limit_usd": -5})
    assert bad.status_code == 400 and "monthly_limit_usd" in bad.json()["errors"]

    slug = created["slug"]
    settings = await client.get(f"/t/{slug}/settings")
    assert 'for="f-monthly_limit_usd"' in settings.text and 'value="750"' in settings.text
    refused = await client.post(
        f"/t/{slug}/monthly-limit",
        data={"_csrf_token": token, "monthly_limit_usd": "lots"},
        headers={"HX-Request": "true", "HX-Target": "limit_form"},
    )
    assert refused.status_code == 400 and "<html" not in refused.text
    assert 'id="e-monthly_limit_usd" class="field-error">a dollar amount' in refused.text
    saved = await client.post(
        f"/t/{slug}/monthly-limit", data={"_csrf_token": token, "monthly_limit_usd": "1.00"}
    )
    assert saved.status_code == 303
    assert "Monthly limit of Limit pages: $1.00." in (await client.get(f"/t/{slug}/settings")).text

    # Its admins and members see it, with this month's spend, on the usage page.
    usage = await client.get(f"/t/{slug}/usage")
    assert "Tenant monthly limit:" in usage.text and "$0.00 of $1.00 spent this month" in usage.text
    cleared = await client.post(
        f"/t/{slug}/monthly-limit", data={"_csrf_token": token, "monthly_limit_usd": ""}
    )
    assert cleared.status_code == 303
    assert "Tenant monthly limit:" not in (await client.get(f"/t/{slug}/usage")).text
    events = await audit_rows(app, created["id"], action="tenant.limit_changed")
    assert [e.details["monthly_limit_usd"]["to"] for e in events] == [750, 1, None]
