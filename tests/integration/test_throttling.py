"""Abuse limits, attacked as an attacker would: password guessing on one account and across many,
unknown API keys (X-API-Key and Bearer), invitation token guessing, limits shared through Redis
between two workers, and a sign-in storm that must not stall the event loop.

Each test speaks from client addresses of its own (ASGI `client`), random per run, so tests do not
share counts with each other or with an earlier run's keys left in Redis."""

from __future__ import annotations

import asyncio
import secrets
import threading
import uuid

import httpx
import pytest
from litestar import Litestar

from portal.db.migrate import upgrade
from portal.identity import passwords
from tests.support.api import (
    OPENAI_KEY,
    SERVICE_SCOPES,
    TENANTS,
    create_key,
    credentials_url,
    new_tenant,
    resolve,
)
from tests.support.apps import running_app
from tests.support.env import API_KEY, REDIS_URL, make_settings, need_service
from tests.support.factories import Factory, token_of
from tests.support.rows import audit_rows
from tests.support.signin import csrf_from

PASSWORD = "the admin's own long password"


def random_address() -> str:
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def from_address(app: Litestar, address: str, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://127.0.0.1",
        **kwargs,  # type: ignore[arg-type]
    )


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    token = csrf_from((await client.get("/login")).text)
    return await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )


def assert_throttled_page(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 15 * 60, "a wait is bounded: never a lock-out"
    assert response.headers["content-type"].startswith("text/html")
    assert "Too many failed attempts. Try again in" in response.text
    return wait


async def test_password_guessing_on_one_account_is_throttled_and_its_owner_still_signs_in(app):
    email = (await Factory.of_app(app).platform_admin(password=PASSWORD)).email
    async with from_address(app, random_address()) as attacker:
        for guess in range(5):
            assert (await attempt(attacker, email, f"guess number {guess}")).status_code == 400
        assert_throttled_page(await attempt(attacker, email, "guess number 5"))
        # Not even checked: the right password from the attacker's address is refused the same way.
        assert_throttled_page(await attempt(attacker, email, PASSWORD))
        assert_throttled_page(await attempt(attacker, email, "guess number 6"))

    # The owner, from an address of their own, is not locked out by someone else's failures.
    async with from_address(app, random_address()) as owner:
        signed_in = await attempt(owner, email, PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        assert (await owner.get("/admin/tenants")).status_code == 200

    # A guesser that moves to a fresh address gets one more guess there, not five.
    async with from_address(app, random_address()) as moved:
        assert (await attempt(moved, email, "guess from elsewhere")).status_code == 400
        assert_throttled_page(await attempt(moved, email, "and another"))

    throttled = await audit_rows(app, action="auth.throttled", target=f"user:{email}")
    assert len(throttled) == 1, "the start of a throttle is audited once, not once per attempt"
    assert throttled[0].outcome == "failure" and throttled[0].details["kind"] == "sign_in"
    failures = await audit_rows(app, action="auth.sign_in", outcome="failure", target=f"user:{email}")
    assert len(failures) == 6, "each checked failure against a real account is audited; refusals are not"


async def test_one_address_guessing_across_many_accounts_is_throttled(app, captured_logs):
    from portal.audit import anonymous

    anonymous.flush()
    address = random_address()
    strangers = [f"nobody-{uuid.uuid4().hex[:10]}@example.com" for _ in range(21)]
    before = len(await audit_rows(app, action="auth.sign_in", outcome="failure"))
    async with from_address(app, address) as sprayer:
        for email in strangers[:20]:
            assert (await attempt(sprayer, email, "password123456")).status_code == 400
        assert_throttled_page(await attempt(sprayer, strangers[20], "password123456"))
    async with from_address(app, random_address()) as someone_else:
        assert (await attempt(someone_else, strangers[20], "password123456")).status_code == 400

    after = await audit_rows(app, action="auth.sign_in", outcome="failure")
    assert len(after) == before, "unknown e-mails are counted in the log, not audited one row each"
    anonymous.flush()
    lines = [r.getMessage() for r in captured_logs.records if r.name == "portal.refusals"]
    assert any("sign_in: unknown account: 21" in line and "sign_in: throttled: 1" in line for line in lines)


async def test_unknown_platform_keys_are_throttled_per_address(app):
    async with from_address(app, random_address()) as guesser:
        for n in range(20):
            wrong = await guesser.get(TENANTS, headers={"X-API-Key": f"guess-{n:04d}-" + "x" * 20})
            assert wrong.status_code == 401
        refused = await guesser.get(TENANTS, headers={"X-API-Key": "one more guess " + "x" * 20})
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["status_code"] == 429
        assert refused.json()["detail"].startswith("Too many failed attempts")
        # Not even compared: the right key from this address waits too.
        assert (await guesser.get(TENANTS, headers={"X-API-Key": API_KEY})).status_code == 429
    async with from_address(app, random_address()) as operator:
        assert (await operator.get(TENANTS, headers={"X-API-Key": API_KEY})).status_code == 200


async def test_unknown_bearer_keys_are_throttled_per_address(app, api):
    tenant = await new_tenant(api)
    stored = await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})
    assert stored.status_code == 200
    key = (await create_key(api, tenant, scopes=SERVICE_SCOPES))["key"]
    async with from_address(app, random_address()) as guesser:
        for n in range(20):
            wrong = await resolve(guesser, f"{tenant['slug']}_sk_{n:04d}" + "A" * 39)
            assert wrong.status_code == 401 and wrong.json()["code"] == "unknown_key"
        refused = await resolve(guesser, f"{tenant['slug']}_sk_" + "B" * 43)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["cache-control"] == "no-store"
        assert (await resolve(guesser, key)).status_code == 429, "a throttled key is not looked up"
    async with from_address(app, random_address()) as service:
        assert (await resolve(service, key)).status_code == 200


async def test_a_valid_key_used_often_is_never_throttled(app, api):
    tenant = await new_tenant(api)
    await api.put(credentials_url(tenant, "openai"), json={"api_key": OPENAI_KEY})
    key = (await create_key(api, tenant, scopes=SERVICE_SCOPES))["key"]
    async with from_address(app, random_address()) as service:
        await resolve(service, f"{tenant['slug']}_sk_" + "C" * 43)  # one failure: the address is watched
        answers = await asyncio.gather(*(resolve(service, key) for _ in range(40)))
        assert [a.status_code for a in answers] == [200] * 40, "concurrent valid calls are never throttled"


async def test_invitation_token_guessing_is_throttled(app, api):
    tenant = await new_tenant(api)
    issued = await Factory.of_app(app).invitation(tenant, "i@example.com")
    token = token_of(issued.link)
    async with from_address(app, random_address()) as guesser:
        for _ in range(20):
            assert (await guesser.get(f"/invite/{secrets.token_urlsafe(32)}")).status_code == 404
        assert_throttled_page(await guesser.get(f"/invite/{secrets.token_urlsafe(32)}"))
        assert_throttled_page(await guesser.get(f"/invite/{token}"))
    async with from_address(app, random_address()) as invitee:
        assert (await invitee.get(f"/invite/{token}")).status_code == 200


@pytest.mark.redis
async def test_limits_are_shared_between_workers_through_redis(tmp_path):
    need_service("Redis", "127.0.0.1", 6379)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}", REDIS_URL=REDIS_URL)
    await upgrade(settings)
    async with running_app(settings) as first, running_app(settings) as second:
        assert type(first.state.portal.throttle.storage).__name__ == "RedisStorage"
        email = (await Factory.of_app(first).platform_admin(password=PASSWORD)).email
        address = random_address()
        async with from_address(first, address) as one, from_address(second, address) as two:
            for guess in range(5):
                worker = one if guess % 2 == 0 else two
                assert (await attempt(worker, email, f"guess {guess}")).status_code == 400
            assert_throttled_page(await attempt(one, email, "guess 5"))
            assert_throttled_page(await attempt(two, email, "guess 6"))
        async with from_address(second, random_address()) as owner:
            assert (await attempt(owner, email, PASSWORD)).status_code == 303


async def test_without_redis_the_limits_live_in_memory(app):
    assert app.state.portal.settings.redis_url is None
    assert type(app.state.portal.throttle.storage).__name__ == "MemoryStorage"


class HeldHasher:
    """The real argon2 hasher, held at the start of each verification until the test releases it:
    so "the loop answers while passwords are being hashed" is shown by events, not by timing."""

    def __init__(self, real: object, loop: asyncio.AbstractEventLoop) -> None:
        self.real = real
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.release = threading.Event()
        self.started = asyncio.Event()
        self.on_the_loop = 0

    def verify(self, password_hash: str, password: str) -> bool:
        if threading.get_ident() == self.loop_thread:
            self.on_the_loop += 1  # holding here would freeze the whole test: count it instead
        else:
            self.loop.call_soon_threadsafe(self.started.set)
            self.release.wait(timeout=60)  # only a safety net should the test fail half-way
        return self.real.verify(password_hash, password)  # type: ignore[attr-defined, no-any-return]

    def hash(self, password: str) -> str:
        return self.real.hash(password)  # type: ignore[attr-defined, no-any-return]


async def test_a_sign_in_storm_does_not_stall_the_event_loop(app, monkeypatch):
    held = HeldHasher(passwords._hasher, asyncio.get_running_loop())
    monkeypatch.setattr(passwords, "_hasher", held)
    async with from_address(app, random_address()) as storm, from_address(app, random_address()) as probe:
        token = csrf_from((await storm.get("/login")).text)

        async def wrong_login(n: int) -> int:
            data = {"email": f"storm-{n}@example.com", "password": "wrong password 1", "_csrf_token": token}
            return (await storm.post("/login", data=data)).status_code

        logins = [asyncio.create_task(wrong_login(n)) for n in range(20)]
        waiting = asyncio.create_task(held.started.wait())
        await asyncio.wait([waiting, *logins], return_when=asyncio.FIRST_COMPLETED)
        try:
            assert held.on_the_loop == 0, "argon2 ran on the event loop"
            assert held.started.is_set()
            health = await probe.get("/health")
            assert health.status_code == 200
            assert not any(task.done() for task in logins), "/health answered while passwords were hashed"
        finally:
            held.release.set()
            waiting.cancel()
            statuses = await asyncio.gather(*logins)
    assert statuses == [400] * 20
