"""With REDIS_URL, two app processes (workers) share sessions: sign in on one, be known on the other."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar

from portal.asgi import create_app
from portal.audit.actor import Actor
from portal.db.migrate import upgrade
from portal.db.session import unit_of_work
from portal.identity.services import create_platform_admin
from tests.support import REDIS_URL, csrf_from, make_settings, need_service


def client(app: Litestar, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", cookies=cookies
    )


async def started(app: Litestar) -> Litestar:
    for hook in app.on_startup:
        await hook(app)
    return app


async def stopped(app: Litestar) -> None:
    for hook in app.on_shutdown:
        await hook(app)


async def test_a_session_started_on_one_worker_is_valid_on_another(tmp_path):
    need_service("Redis", "127.0.0.1", 6379)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", REDIS_URL=REDIS_URL)
    await upgrade(settings)
    first, second = await started(create_app(settings)), await started(create_app(settings))
    email = f"redis-{uuid.uuid4().hex[:8]}@example.com"
    async with unit_of_work(first.state.portal.sessions) as db:
        await create_platform_admin(db, Actor.system("test"), email=email, password="a long password 123")
    try:
        async with client(first) as one:
            token = csrf_from((await one.get("/login")).text)
            signed_in = await one.post(
                "/login", data={"email": email, "password": "a long password 123", "_csrf_token": token}
            )
            assert signed_in.status_code == 303
            assert (await one.get("/admin/tenants")).status_code == 200
            async with client(second, cookies=one.cookies) as two:
                page = await two.get("/admin/tenants", follow_redirects=False)
                assert page.status_code == 200
                assert email in page.text
                csrf = csrf_from(page.text)
                await two.post("/logout", data={"_csrf_token": csrf})
            gone = await one.get("/admin/tenants", follow_redirects=False)
            assert gone.status_code == 303, "signing out on one worker ends the session on all"
    finally:
        await stopped(first)
        await stopped(second)
