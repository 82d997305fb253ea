"""Who may call what: 401 on the API without a valid key, CSRF on sessions and forms, sign-in
redirects, failed sign-ins and changes written to the audit log."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

import httpx
import pytest
from litestar.routes import HTTPRoute

from portal.web.auth import CSRF_COOKIE
from tests.support.api import TENANTS, credentials_url, new_tenant, portal_url
from tests.support.apps import client_for
from tests.support.env import unique_slug
from tests.support.rows import audit_rows
from tests.support.signin import ADMIN_EMAIL, csrf_from

PARAM = re.compile(r"\{(\w+):(\w+)\}")
KEY = "sk-valid-provider-key-0001"


def api_calls(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every JSON API route of the app."""
    values = {"str": "x-placeholder", "uuid": str(uuid.uuid4()), "int": "1", "path": "x"}
    calls = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api"):
            continue
        path = PARAM.sub(lambda m: values.get(m.group(2), "x"), route.path)
        calls.extend((method, path) for method in sorted(route.methods - {"HEAD", "OPTIONS"}))
    return calls


def assert_json_401(response, method, path):
    assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/json"), (method, path)
    assert response.json()["status_code"] == 401
    assert "<html" not in response.text.lower()


async def test_the_api_has_routes_to_check(app):
    calls = api_calls(app)
    paths = {path for _, path in calls}
    assert any(p.startswith(TENANTS) for p in paths)
    assert any("/llm-keys" in p for p in paths)
    assert any("/providers" in p for p in paths)
    assert len(calls) >= 20


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key-" + "y" * 20}, {"X-API-Key": ""}])
async def test_every_api_route_is_401_without_a_valid_key(app, headers):
    # One client address per call: a wrong key is a failed guess, and more than a few from one
    # address are throttled (429, tests/integration/test_throttling.py).
    for n, (method, path) in enumerate(api_calls(app)):
        transport = httpx.ASGITransport(app=app, client=(f"10.255.{n // 250}.{n % 250 + 1}", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers=headers
        ) as client:
            response = await client.request(
                method, path, json={} if method in {"POST", "PUT", "PATCH"} else None
            )
            assert_json_401(response, method, path)


async def test_a_wrong_key_changes_nothing(app, api):
    slug = unique_slug()
    async with client_for(app, headers={"X-API-Key": "not-the-platform-key-000"}) as client:
        response = await client.post(TENANTS, json={"name": "Sneaky", "slug": slug})
    assert_json_401(response, "POST", TENANTS)
    assert (await api.get(f"{TENANTS}/{slug}")).status_code == 404


async def test_a_session_can_read_the_api(browser_session):
    client, _token = browser_session
    response = await client.get(TENANTS)
    assert response.status_code == 200, response.text
    assert "tenants" in response.json()


async def test_api_changes_with_a_session_need_the_csrf_header(browser_session, api):
    client, token = browser_session
    assert client.cookies.get(CSRF_COOKIE) == token  # the page's token is the cookie's value
    slug = unique_slug()

    refused = await client.post(TENANTS, json={"name": "No header", "slug": slug})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/json")
    wrong = await client.post(
        TENANTS, json={"name": "Wrong header", "slug": slug}, headers={"x-csrftoken": token[:-4] + "0000"}
    )
    assert wrong.status_code == 403
    assert (await api.get(f"{TENANTS}/{slug}")).status_code == 404

    created = await client.post(
        TENANTS, json={"name": "With header", "slug": slug}, headers={"x-csrftoken": token}
    )
    assert created.status_code == 201, created.text
    tenant = created.json()

    url = f"{TENANTS}/{tenant['id']}"
    assert (await client.put(url, json={"name": "Changed"})).status_code == 403
    assert (await client.put(credentials_url(tenant, "openai"), json={"api_key": KEY})).status_code == 403
    assert (await client.delete(url)).status_code == 403
    assert (await api.get(url)).json()["name"] == "With header"

    changed = await client.put(url, json={"name": "Changed"}, headers={"x-csrftoken": token})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Changed"
    assert (await client.delete(url, headers={"x-csrftoken": token})).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_page_forms_need_the_csrf_token(browser_session, api):
    client, token = browser_session
    slug = unique_slug()
    form = {"name": "Form tenant", "slug": slug}
    missing = await client.post("/admin/tenants", data=form, follow_redirects=False)
    assert missing.status_code == 403, missing.text[:300]
    wrong = await client.post(
        "/admin/tenants", data={**form, "_csrf_token": token[:-4] + "0000"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert (await api.get(f"{TENANTS}/{slug}")).status_code == 404

    done = await client.post("/admin/tenants", data={**form, "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text[:300]
    assert (await api.get(f"{TENANTS}/{slug}")).status_code == 200

    credential = await client.post(
        f"/t/{slug}/credentials", data={"provider": "openai", "api_key": KEY}, follow_redirects=False
    )
    assert credential.status_code == 403
    assert (await api.get(f"{TENANTS}/{slug}/credentials")).json()["credentials"] == []


@pytest.mark.parametrize(
    "path", ["/admin/tenants", "/t/some-tenant", "/t/some-tenant/credentials?provider=azure&x=1"]
)
async def test_anonymous_pages_redirect_to_sign_in(anon, path):
    response = await anon.get(path, follow_redirects=False)
    assert response.status_code == 303, response.text[:200]
    location = response.headers["location"]
    assert location.startswith("/login?next=")
    assert unquote(location.split("next=", 1)[1]) == path


async def test_a_foreign_next_is_not_followed(app):
    async with client_for(app) as client:
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={
                "email": ADMIN_EMAIL,
                "password": "correct horse battery staple",
                "next": "//evil.example.com/",
                "_csrf_token": csrf_from(page.text),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert not response.headers["location"].startswith("//")
        assert "evil" not in response.headers["location"]


@pytest.mark.parametrize("email", [ADMIN_EMAIL, "nobody-{}@example.com"])
async def test_wrong_password_rerenders_the_page_and_is_audited(app, email):
    """Against a real account: one audit row. Against an unknown e-mail: none (anyone could write
    them by the thousand); such refusals are counted in the log (portal.audit.anonymous)."""
    email = email.format(uuid.uuid4().hex[:8])
    async with client_for(app, headers={"user-agent": "auth-test/1"}) as client:
        page = await client.get("/login")
        before = {e.id for e in await audit_rows(app, action="auth.sign_in", outcome="failure")}
        response = await client.post(
            "/login",
            data={"email": email, "password": "not-the-password", "_csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert 'name="password"' in response.text
        assert "not-the-password" not in response.text
        # Still not signed in.
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 303

    events = [
        e
        for e in await audit_rows(app, action="auth.sign_in", outcome="failure")
        if e.id not in before and e.target == f"user:{email}"
    ]
    if email.startswith("nobody-"):
        assert events == []
        return
    assert len(events) == 1
    event = events[0]
    assert event.actor == email
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "auth-test/1"
    assert "not-the-password" not in str(event.details)


async def test_changes_are_audited_with_who_what_where(api, app):
    tenant = await new_tenant(api, name="Audited")
    tid = tenant["id"]
    await api.put(f"{TENANTS}/{tid}", json={"name": "Audited again"})
    await api.put(f"{TENANTS}/{tid}", json={"status": "suspended"})
    await api.put(credentials_url(tenant, "openai"), json={"api_key": KEY})
    await api.put(credentials_url(tenant, "openai"), json={"api_key": KEY})
    await api.post(portal_url(tenant, "/credentials/openai/test"))
    await api.delete(credentials_url(tenant, "openai"))
    provider = (
        await api.post(
            portal_url(tenant, "/providers"),
            json={"name": "audit-gw", "base_url": "https://gw.example.com/v1", "models": ["m1"]},
        )
    ).json()
    await api.put(portal_url(tenant, f"/providers/{provider['id']}"), json={"display_name": "Audit GW"})
    model = (
        await api.post(portal_url(tenant, f"/providers/{provider['id']}/models"), json={"name": "m2"})
    ).json()
    await api.put(portal_url(tenant, f"/providers/models/{model['id']}"), json={"enabled": False})
    await api.put(portal_url(tenant, f"/providers/models/{model['id']}"), json={"enabled": True})
    await api.delete(portal_url(tenant, f"/providers/models/{model['id']}"))
    await api.delete(portal_url(tenant, f"/providers/{provider['id']}"))
    await api.delete(f"{TENANTS}/{tid}")

    events = await audit_rows(app, tenant_id=tid)
    expected = [
        ("tenant.created", f"tenant:{tenant['slug']}"),
        ("tenant.updated", f"tenant:{tenant['slug']}"),
        ("tenant.suspended", f"tenant:{tenant['slug']}"),
        ("credential.created", "credential:openai"),
        ("credential.replaced", "credential:openai"),
        ("credential.tested", "credential:openai"),
        ("credential.deleted", "credential:openai"),
        ("provider.created", "provider:audit-gw"),
        ("provider.updated", "provider:audit-gw"),
        ("model.created", "model:audit-gw/m2"),
        ("model.disabled", "model:audit-gw/m2"),
        ("model.enabled", "model:audit-gw/m2"),
        ("model.deleted", "model:audit-gw/m2"),
        ("provider.deleted", "provider:audit-gw"),
        ("tenant.deleted", f"tenant:{tenant['slug']}"),
    ]
    assert [(e.action, e.target) for e in events] == expected
    for event in events:
        assert event.actor == "api-key:platform"
        assert str(event.tenant_id) == tid
        assert event.ip == "127.0.0.1"
        assert event.outcome == "success"
        assert event.at is not None
        assert len(event.hash) == 64
    # The suspension records what changed.
    suspended = next(e for e in events if e.action == "tenant.suspended")
    assert suspended.details == {"status": {"from": "active", "to": "suspended"}}
    tested = next(e for e in events if e.action == "credential.tested")
    assert tested.details["source"] == "tenant"


async def test_a_session_change_is_audited_as_the_person(browser_session, app):
    client, token = browser_session
    created = await client.post(
        TENANTS, json={"name": "By a person", "slug": unique_slug()}, headers={"x-csrftoken": token}
    )
    assert created.status_code == 201
    (event,) = await audit_rows(app, tenant_id=created.json()["id"])
    assert event.action == "tenant.created"
    assert event.actor == ADMIN_EMAIL
    assert event.actor_user_id is not None
    assert event.ip == "127.0.0.1"


async def test_a_failed_connection_test_is_audited_as_a_failure(api, app):
    tenant = await new_tenant(api)
    await api.put(credentials_url(tenant, "openai"), json={"api_key": "sk-refused-by-the-stub-01"})
    await api.post(portal_url(tenant, "/credentials/openai/test"))
    (event,) = await audit_rows(app, tenant_id=tenant["id"], action="credential.tested")
    assert event.outcome == "failure"
    assert "401" in event.details["reason"]
