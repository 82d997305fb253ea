from __future__ import annotations

from tests.support.env import unique_slug


async def test_tenant_round_trip(api):
    slug = unique_slug()
    created = await api.post("/api/v1/sysadmin/tenants", json={"name": "Smoke", "slug": slug})
    assert created.status_code == 201, created.text
    got = await api.get(f"/api/v1/sysadmin/tenants/{slug}")
    assert got.json()["id"] == created.json()["id"]


async def test_signed_in_pages(browser_session):
    client, _token = browser_session
    page = await client.get("/admin/tenants")
    assert page.status_code == 200
    assert "Tenants" in page.text
