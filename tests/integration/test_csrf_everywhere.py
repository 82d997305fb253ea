"""CSRF on every state-changing route: enumerated from app.routes (as the access matrix does), so a
new route cannot escape. A signed-in platform admin's browser, tricked into sending a request
without the token, changes nothing: pages are refused by the CSRF middleware, the JSON API (excluded
from the middleware) by the guards' double-submit check (portal.web.guards).

Intentional exceptions, and why a forged request gains nothing there:
  POST /api/v1/resolve, POST /api/v1/usage: the service API. It has no session (the session
  middleware skips these paths) and authenticates only an issued key in the Authorization header,
  which a browser never adds by itself; a cookie-only request is 401.
  POST /v1/chat/completions, POST /v1/embeddings: the gateway, for the same reasons (issued keys
  with the inference scope, in the Authorization header; no session).
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from tests.support.api import TENANTS
from tests.support.apps import client_for
from tests.support.signin import csrf_from, sign_in

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# (method, route path) -> the status it gives instead of 403, and why (see the module docstring).
NOT_CSRF_PROTECTED = {
    ("POST", "/api/v1/resolve"): 401,
    ("POST", "/api/v1/usage"): 401,
    ("POST", "/v1/chat/completions"): 401,
    ("POST", "/v1/embeddings"): 401,
}
CSRF_PAGE_TEXT = "did not come from this site"


def state_changing_routes(app: Litestar) -> list[tuple[str, str]]:
    found = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method in route.methods & STATE_CHANGING
    }
    return sorted(found, key=lambda r: (r[1], r[0]))


def fill(path: str, tenant: dict[str, str]) -> str:
    """The real tenant for {tenant_id} and {slug}; a fresh UUID for every other parameter."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "tenant_id":
            return tenant["id"]
        if name == "slug":
            return tenant["slug"]
        return str(uuid.uuid4())

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


async def tenant_with_slug(api: httpx.AsyncClient, slug: str) -> dict[str, str]:
    created = await api.post(TENANTS, json={"name": f"Tenant {slug}", "slug": slug})
    if created.status_code == 409:  # made by the other parametrisation of this module's tests
        return (await api.get(f"{TENANTS}/{slug}")).json()
    assert created.status_code == 201, created.text
    return created.json()


async def test_there_are_state_changing_routes_to_check(app):
    routes = state_changing_routes(app)
    assert len(routes) >= 60
    assert any(path.startswith("/t/") for _, path in routes)
    assert any(path.startswith("/api/") for _, path in routes)
    assert not set(NOT_CSRF_PROTECTED) - set(routes), "stale exceptions"


@pytest.mark.parametrize("slug", ["healthcare", "api", "health"])
async def test_a_tenant_slug_does_not_switch_csrf_off(app, api, slug):
    """The exclusions once were unanchored patterns: '/health' and '/api/' matched these tenants' pages."""
    tenant = await tenant_with_slug(api, slug)
    async with client_for(app) as client:
        await sign_in(client)
        response = await client.post(
            f"/t/{slug}/settings",
            data={"name": "Renamed by a forged form", "slug": slug},
            follow_redirects=False,
        )
        assert response.status_code == 403, response.text[:300]
        assert CSRF_PAGE_TEXT in response.text
    assert (await api.get(f"{TENANTS}/{tenant['id']}")).json()["name"] == f"Tenant {slug}"


async def test_every_state_changing_route_refuses_a_session_without_the_token(app, api):
    tenant = await tenant_with_slug(api, "healthcare")
    async with client_for(app) as client:
        await sign_in(client)
        assert "csrf" in " ".join(client.cookies.keys())  # the cookie is there; only the token is missing
        wrong: list[str] = []
        for method, path in state_changing_routes(app):
            url = fill(path, tenant)
            is_api = path.startswith("/api/")
            kwargs = {"json": {}} if is_api else {"data": {"name": "forged"}}
            response = await client.request(method, url, follow_redirects=False, **kwargs)
            expected = NOT_CSRF_PROTECTED.get((method, path), 403)
            refused_for_csrf = expected != 403 or (
                "CSRF" in response.json()["detail"] if is_api else CSRF_PAGE_TEXT in response.text
            )
            if response.status_code != expected or not refused_for_csrf:
                wrong.append(f"{method:6} {path:70} {response.status_code} {response.text[:100]!r}")
        # The session is still signed in: the refusals were not sign-outs.
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 200
    assert not wrong, f"{len(wrong)} route(s) accepted a request without the CSRF token:\n" + "\n".join(wrong)
    assert (await api.get(f"{TENANTS}/{tenant['id']}")).status_code == 200


async def test_the_token_still_lets_the_form_through(app, api):
    """The control: the same kind of post with the token is not refused."""
    tenant = await tenant_with_slug(api, "healthcare")
    async with client_for(app) as client:
        token = await sign_in(client)
        response = await client.post(
            f"/t/{tenant['slug']}/settings",
            data={"name": "Healthcare", "slug": tenant["slug"], "_csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text[:300]
        assert csrf_from((await client.get("/admin/tenants")).text)
