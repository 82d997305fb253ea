"""With REDIS_URL, two app processes (workers) share sessions: sign in on one, be known on the other."""

from __future__ import annotations

import uuid

import httpx
from litestar import Litestar

from portal.db.migrate import upgrade
from tests.support.apps import client_for, start_app, stop_app
from tests.support.env import REDIS_URL, make_settings, need_service
from tests.support.factories import Factory
from tests.support.signin import csrf_from


def client(app: Litestar, cookies: httpx.Cookies | None = None) -> httpx.AsyncClient:
    return client_for(app, cookies=cookies)


async def test_a_session_started_on_one_worker_is_valid_on_another(tmp_path):
    need_service("Redis", "127.0.0.1", 6379)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", REDIS_URL=REDIS_URL)
    await upgrade(settings)
    first, second = await start_app(settings), await start_app(settings)
    email = f"redis-{uuid.uuid4().hex[:8]}@example.com"
    await Factory.of_app(first).platform_admin(email, "a long password 123")
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
        await stop_app(first)
        await stop_app(second)
