"""Answers to wrong requests: unknown URLs are a 404 page (JSON under /api/), never a 500 with a
traceback; a wrong method is 405 with Allow; out-of-range paging parameters are 400 naming the
parameter, never 500."""

from __future__ import annotations

import pytest

from tests.support.apps import client_for
from tests.support.signin import sign_in

UNKNOWN_PAGES = ["/no/such/page", "/admin/nothing-here", "/t", "/static-not", "/favicon.ico"]


@pytest.mark.parametrize("path", UNKNOWN_PAGES)
async def test_an_unknown_page_is_a_404_page(anon, path):
    response = await anon.get(path)
    assert response.status_code == 404, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert "There is nothing here." in response.text
    assert "Traceback" not in response.text


async def test_an_unknown_page_is_a_404_page_when_signed_in_too(app):
    async with client_for(app) as client:
        await sign_in(client)
        response = await client.get("/no/such/page")
        assert response.status_code == 404
        assert "There is nothing here." in response.text


@pytest.mark.parametrize("path", ["/api/nothing", "/api/v1/nothing/here", "/api/portal/tenants"])
async def test_an_unknown_api_url_is_json_404(anon, path):
    response = await anon.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status_code": 404, "detail": "Not Found"}


async def test_an_unknown_static_file_is_a_404(anon):
    response = await anon.get("/static/nothing.css")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/login", {"GET", "POST"}),
        ("PUT", "/admin/tenants", {"GET", "POST"}),
        ("PATCH", "/api/v1/sysadmin/tenants", {"GET", "POST"}),
        ("POST", "/health", {"GET"}),
        ("POST", "/static/portal.css", {"GET"}),
    ],
)
async def test_a_wrong_method_is_405_with_allow(anon, method, path, allowed):
    response = await anon.request(method, path)
    assert response.status_code == 405, response.text[:200]
    allow = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= allow, allow
    assert "Traceback" not in response.text


PAGED_API = ["/api/v1/sysadmin/tenants", "/api/v1/admin/users", "/api/v1/admin/audit"]
PAGED_PAGES = ["/admin/tenants", "/admin/users", "/admin/audit"]
OUT_OF_RANGE = [
    ("page", str(10**20)),
    ("page", str(2**63)),
    ("page", str(10**18)),
    ("page", "0"),
    ("page", "-1"),
    ("page", "two"),
    ("per_page", str(10**20)),
    ("per_page", "100000"),
    ("per_page", "-5"),
    ("per_page", "0"),
]


@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE)
async def test_api_paging_out_of_range_is_400_naming_the_parameter(api, name, value):
    for path in PAGED_API:
        response = await api.get(path, params={name: value})
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert name in response.json()["errors"], (path, response.json())


async def test_tenant_api_paging_is_bounded_too(api):
    from tests.support.api import new_tenant

    tenant = await new_tenant(api)
    path = f"/api/portal/tenants/{tenant['id']}/audit"
    for name, value in OUT_OF_RANGE:
        response = await api.get(path, params={name: value})
        assert response.status_code == 400, (name, value, response.text[:200])
        assert name in response.json()["errors"]
    # The largest allowed page is an empty page, not an error.
    last = await api.get("/api/v1/sysadmin/tenants", params={"page": "1000000", "per_page": "200"})
    assert last.status_code == 200
    assert last.json()["tenants"] == []


@pytest.mark.parametrize("value", [str(10**20), str(10**18), "0", "-3"])
async def test_page_paging_out_of_range_is_a_400_page_naming_the_parameter(browser_session, api, value):
    from tests.support.api import new_tenant

    client, _ = browser_session
    tenant = await new_tenant(api)
    for path in [*PAGED_PAGES, f"/t/{tenant['slug']}/audit"]:
        response = await client.get(path, params={"page": value})
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert "Invalid request: page: " in response.text
        assert "Traceback" not in response.text
