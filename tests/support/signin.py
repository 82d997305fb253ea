"""Signing in: through the forms as a browser does, or by writing into the app's session store what
a real sign-in leaves there (the access matrix signs in for real; the app has no test-only route)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.serialization import encode_json
from sqlalchemy import select

from portal.db.base import utcnow
from portal.db.models import Membership, User
from portal.web.auth import (
    AUTH_KEY,
    CSRF_COOKIE,
    CSRF_HEADER,
    IMPERSONATION_KEY,
    SSO_TENANTS_KEY,
    password_auth,
    sso_auth,
)
from portal.web.sessions import SESSION_COOKIE, SESSION_MAX_AGE, SESSION_STORE
from tests.support.apps import client_for

# The platform admin every session's database starts with (tests.support.databases.CleanSlate).
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
# The password of admins made by tests.support.factories.platform_admin.
PASSWORD = "a long enough password for tests"


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def csrf_token(client: httpx.AsyncClient, path: str = "/login") -> str:
    return csrf_from((await client.get(path)).text)


async def sign_in(client: httpx.AsyncClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token for later posts."""
    response = await password_step(client, email, password)
    assert response.status_code == 303, response.text
    return csrf_from((await client.get("/admin/tenants")).text)


async def password_step(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    token = await csrf_token(client)
    return await client.post("/login", data={"email": email, "password": password, "_csrf_token": token})


async def second_step(client: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await client.get("/login/second-factor")
    assert page.status_code == 200, page.text
    return await client.post("/login/second-factor", data={"code": code, "_csrf_token": csrf_from(page.text)})


async def with_csrf(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Fetch the CSRF cookie once and send it back as the header on every request."""
    await client.get("/login")
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie was set"
    client.headers[CSRF_HEADER] = token
    return client


async def write_session(app: Litestar, data: dict[str, Any]) -> str:
    session_id = secrets.token_hex(32)
    await app.stores.get(SESSION_STORE).set(session_id, encode_json(data), expires_in=SESSION_MAX_AGE)
    return session_id


async def signed_in_session(app: Litestar, user_id: uuid.UUID) -> dict[str, Any]:
    """What a real sign-in leaves in the session: a platform admin's password and second factor, or
    single sign-on through the provider of each of the person's tenants."""
    async with app.state.portal.sessions() as db:
        user = await db.get(User, user_id)
        assert user is not None
        tenants = (await db.scalars(select(Membership.tenant_id).where(Membership.user_id == user_id))).all()
    if user.is_platform_admin:
        return {"user_id": str(user_id), AUTH_KEY: password_auth(second_factor=True)}
    return {
        "user_id": str(user_id),
        AUTH_KEY: sso_auth("https://idp.test.example"),
        SSO_TENANTS_KEY: [str(t) for t in tenants],
    }


@asynccontextmanager
async def session_client(app: Litestar, user_id: uuid.UUID, **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose session says `user_id` is signed in (plus `extra` session keys)."""
    data: dict[str, Any] = {**await signed_in_session(app, user_id), **extra}
    session_id = await write_session(app, data)
    async with client_for(app, cookies={SESSION_COOKIE: session_id}) as client:
        yield await with_csrf(client)


def impersonation_data(
    tenant: dict[str, Any], *, reason: str = "ticket 42", minutes_left: float = 60
) -> dict[str, Any]:
    now = utcnow()
    return {
        "tenant_id": tenant["id"],
        "slug": tenant["slug"],
        "tenant_name": tenant["name"],
        "reason": reason,
        "started_at": (now - timedelta(minutes=60 - minutes_left)).isoformat(),
        "expires_at": (now + timedelta(minutes=minutes_left)).isoformat(),
    }


@asynccontextmanager
async def impersonating_session(
    app: Litestar, admin_email: str, tenant: dict[str, Any], **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.state.portal.sessions() as db:
        admin_id = await db.scalar(select(User.id).where(User.email == admin_email))
    assert admin_id is not None, admin_email
    async with session_client(
        app, admin_id, **{IMPERSONATION_KEY: impersonation_data(tenant, **kwargs)}
    ) as client:
        yield client
