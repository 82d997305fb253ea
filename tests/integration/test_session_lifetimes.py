"""Sessions: nothing stored for a visitor until something is written; an absolute lifetime beside
the sliding idle one; Secure and the __Host- prefix on the cookies when PUBLIC_URL is https."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie

import httpx
import pytest
from litestar import Litestar
from litestar.serialization import decode_json, encode_json
from litestar.stores.memory import MemoryStore

from portal.web.auth import CSRF_COOKIE
from portal.web.sessions import (
    BORN_KEY,
    HOST_PREFIX,
    SESSION_ABSOLUTE_MAX_AGE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    SESSION_STORE,
)
from tests.support.apps import client_for
from tests.support.signin import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_from, sign_in, write_session


def memory_keys(app: Litestar) -> set[str]:
    store = app.stores.get(SESSION_STORE)
    assert isinstance(store, MemoryStore)
    return set(store._store)


async def test_a_visitor_without_a_cookie_gets_no_session(app):
    before = memory_keys(app)
    async with client_for(app) as client:
        for path in ("/login", "/", "/admin/tenants", "/schema", "/no/such/page"):
            response = await client.get(path, follow_redirects=False)
            assert SESSION_COOKIE not in response.headers.get("set-cookie", ""), path
        assert SESSION_COOKIE not in client.cookies
        assert CSRF_COOKIE in client.cookies  # the CSRF cookie is separate, and stores nothing
    assert memory_keys(app) - before == set()


async def test_a_failed_sign_in_stores_nothing_either(app):
    before = memory_keys(app)
    async with client_for(app) as client:
        page = await client.get("/login")
        response = await client.post(
            "/login",
            data={"email": ADMIN_EMAIL, "password": "wrong", "_csrf_token": csrf_from(page.text)},
        )
        assert response.status_code == 400
        assert SESSION_COOKIE not in client.cookies
    assert memory_keys(app) - before == set()


async def test_signing_in_stores_one_session_with_its_birth_time(app):
    before = memory_keys(app)
    async with client_for(app) as client:
        started = time.time()
        await sign_in(client)
        session_id = client.cookies[SESSION_COOKIE]
    assert memory_keys(app) - before == {session_id}
    data = decode_json(await app.stores.get(SESSION_STORE).get(session_id))
    assert started - 1 <= data[BORN_KEY] <= time.time() + 1


async def test_signing_out_removes_the_stored_session(app):
    async with client_for(app) as client:
        token = await sign_in(client)
        session_id = client.cookies[SESSION_COOKIE]
        await client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
        assert SESSION_COOKIE not in client.cookies
    assert await app.stores.get(SESSION_STORE).get(session_id) is None


async def _signed_in_session(app: Litestar) -> tuple[str, dict]:
    async with client_for(app) as client:
        await sign_in(client)
        session_id = client.cookies[SESSION_COOKIE]
    return session_id, decode_json(await app.stores.get(SESSION_STORE).get(session_id))


async def test_a_session_older_than_the_absolute_lifetime_is_dropped(app):
    """However recently it was used (the idle timeout slides), a session ends at its absolute lifetime."""
    assert SESSION_ABSOLUTE_MAX_AGE > SESSION_MAX_AGE
    session_id, data = await _signed_in_session(app)
    store = app.stores.get(SESSION_STORE)
    data[BORN_KEY] = time.time() - SESSION_ABSOLUTE_MAX_AGE - 5
    await store.set(session_id, encode_json(data), expires_in=SESSION_MAX_AGE)  # just "used"
    async with client_for(app, cookies={SESSION_COOKIE: session_id}) as client:
        response = await client.get("/admin/tenants", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    assert await store.get(session_id) is None


async def test_a_session_within_its_absolute_lifetime_still_works(app):
    session_id, data = await _signed_in_session(app)
    data[BORN_KEY] = time.time() - SESSION_ABSOLUTE_MAX_AGE + 60
    await app.stores.get(SESSION_STORE).set(session_id, encode_json(data), expires_in=SESSION_MAX_AGE)
    async with client_for(app, cookies={SESSION_COOKIE: session_id}) as client:
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 200
    # Using it does not make it younger.
    stored = decode_json(await app.stores.get(SESSION_STORE).get(session_id))
    assert stored[BORN_KEY] == data[BORN_KEY]


@pytest.mark.parametrize("born", ["yesterday", None, [1]])
async def test_a_session_with_a_broken_birth_time_is_dropped(app, born):
    session_id, data = await _signed_in_session(app)
    data[BORN_KEY] = born
    await app.stores.get(SESSION_STORE).set(session_id, encode_json(data), expires_in=SESSION_MAX_AGE)
    async with client_for(app, cookies={SESSION_COOKIE: session_id}) as client:
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 303


async def test_a_session_without_a_birth_time_is_born_when_first_seen(app):
    """Sessions stored before the absolute lifetime existed: their clock starts now."""
    user_session, _ = await _signed_in_session(app)
    data = decode_json(await app.stores.get(SESSION_STORE).get(user_session))
    del data[BORN_KEY]
    session_id = await write_session(app, data)
    async with client_for(app, cookies={SESSION_COOKIE: session_id}) as client:
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 200
    stored = decode_json(await app.stores.get(SESSION_STORE).get(session_id))
    assert abs(stored[BORN_KEY] - time.time()) < 60


# --- cookie attributes behind https


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name (the raw header, attributes included)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[next(iter(SimpleCookie(header)))] = header
    return found


def assert_host_cookie(header: str) -> None:
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "secure" in attributes, header
    assert "path=/" in attributes, header
    assert not any(a.startswith("domain") for a in attributes), header
    assert "httponly" in attributes, header
    assert "samesite=lax" in attributes, header


async def test_https_cookies_are_secure_and_host_prefixed(https_app):
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.example.com") as client:
        page = await client.get("/login")
        cookies = set_cookies(page)
        assert set(cookies) == {HOST_PREFIX + CSRF_COOKIE}, cookies
        assert_host_cookie(cookies[HOST_PREFIX + CSRF_COOKIE])
        signed_in = await client.post(
            "/login",
            data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "_csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        cookies = set_cookies(signed_in)
        assert HOST_PREFIX + SESSION_COOKIE in cookies, cookies
        assert_host_cookie(cookies[HOST_PREFIX + SESSION_COOKIE])
        assert SESSION_COOKIE not in cookies
        # The prefixed cookies are the ones the portal reads back: signed in, and the API's CSRF check passes.
        assert (await client.get("/admin/tenants", follow_redirects=False)).status_code == 200
        token = client.cookies[HOST_PREFIX + CSRF_COOKIE]
        refused = await client.post("/api/v1/sysadmin/tenants", json={})
        assert refused.status_code == 403
        checked = await client.post("/api/v1/sysadmin/tenants", json={}, headers={"x-csrftoken": token})
        assert checked.status_code == 400, checked.text


async def test_plain_http_cookies_keep_their_names_and_are_not_secure(app):
    async with client_for(app) as client:
        page = await client.get("/login")
        header = set_cookies(page)[CSRF_COOKIE]
        assert "secure" not in header.lower()
        await client.post(
            "/login",
            data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "_csrf_token": csrf_from(page.text)},
        )
        assert SESSION_COOKIE in client.cookies
