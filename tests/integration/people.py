"""People for the identity tests: users made members through the invitation services, and
clients signed in by writing into the app's session store what a real sign-in leaves there (the
access matrix signs in for real; the app has no test-only sign-in route)."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar
from litestar.serialization import encode_json
from sqlalchemy import select

from portal.audit.actor import Actor
from portal.db.base import utcnow
from portal.db.models import Membership, Tenant, User
from portal.db.session import unit_of_work
from portal.members import invitations as members
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
from tests.conftest import client_for

SYSTEM = Actor.system("test")


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def make_user(app: Litestar, email: str | None = None, name: str = "") -> User:
    email = email or f"u-{uuid.uuid4().hex[:10]}@example.com"
    async with app.state.portal.sessions() as db:
        user = User(id=uuid.uuid4(), email=email, name=name or email.split("@")[0])
        db.add(user)
        await db.commit()
        return user


async def tenant_row(app: Litestar, tenant_id: str) -> Tenant:
    async with app.state.portal.sessions() as db:
        tenant = await db.get(Tenant, uuid.UUID(tenant_id))
        assert tenant is not None
        return tenant


async def invite(app: Litestar, tenant_id: str, email: str, role: str = "member") -> members.IssuedInvitation:
    tenant = await tenant_row(app, tenant_id)
    async with unit_of_work(app.state.portal.sessions) as db:
        return await members.invite(db, app.state.portal.settings, SYSTEM, tenant, email=email, role=role)


async def accept(app: Litestar, token: str, user: User, tenant_id: str) -> Any:
    async with unit_of_work(app.state.portal.sessions) as db:
        return await members.accept_invitation(
            db, SYSTEM, token=token, user=user, tenant_id=uuid.UUID(tenant_id)
        )


async def add_member(app: Litestar, tenant_id: str, role: str = "member", email: str | None = None) -> User:
    """A new user who joined the tenant by accepting an invitation."""
    user = await make_user(app, email)
    issued = await invite(app, tenant_id, user.email, role)
    await accept(app, token_of(issued.link), user, tenant_id)
    return user


async def write_session(app: Litestar, data: dict[str, Any]) -> str:
    session_id = secrets.token_hex(32)
    await app.stores.get(SESSION_STORE).set(session_id, encode_json(data), expires_in=SESSION_MAX_AGE)
    return session_id


def impersonation_data(
    tenant: dict[str, Any], *, reason: str = "ticket 42", minutes_left: float = 60
) -> dict:
    now = utcnow()
    return {
        "tenant_id": tenant["id"],
        "slug": tenant["slug"],
        "tenant_name": tenant["name"],
        "reason": reason,
        "started_at": (now - timedelta(minutes=60 - minutes_left)).isoformat(),
        "expires_at": (now + timedelta(minutes=minutes_left)).isoformat(),
    }


async def with_csrf(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Fetch the CSRF cookie once and send it back as the header on every request."""
    await client.get("/login")
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie was set"
    client.headers[CSRF_HEADER] = token
    return client


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


@asynccontextmanager
async def impersonating_session(
    app: Litestar, admin_email: str, tenant: dict[str, Any], **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.state.portal.sessions() as db:
        admin_id = await db.scalar(select(User.id).where(User.email == admin_email))
    async with session_client(
        app, admin_id, **{IMPERSONATION_KEY: impersonation_data(tenant, **kwargs)}
    ) as c:
        yield c


def ago(**delta: float) -> datetime:
    return utcnow() - timedelta(**delta)
