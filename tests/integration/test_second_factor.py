"""Platform admins' second factor (PLATFORM_ADMIN_MFA=required): enrolment at the first sign-in,
TOTP codes accepted once, single-use recovery codes, and resets that end every session."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest
from litestar import Litestar
from sqlalchemy import select

from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.models import AuditEvent, User
from portal.db.session import unit_of_work
from portal.identity.services import create_platform_admin, reset_platform_admin_mfa
from tests.support.apps import client_for, running_app
from tests.support.env import make_settings
from tests.support.factories import Factory
from tests.support.signin import PASSWORD, csrf_from, password_step, second_step


@pytest.fixture(scope="module")
async def mfa_app(
    app: Litestar, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Litestar]:
    """A second app on the same database and keys, with the second factor required (the default)."""
    env = {k: settings.environ[k] for k in ("ENCRYPTION_KEY", "SESSION_SECRET", "API_KEY_SECRET")}
    mfa_settings = make_settings(
        tmp_path_factory.mktemp("mfa"), settings.database_url, PLATFORM_ADMIN_MFA="required", **env
    )
    assert mfa_settings.platform_admin_mfa == "required"
    async with running_app(mfa_settings) as application:
        yield application


async def enrol(client: httpx.AsyncClient, email: str) -> tuple[str, list[str], str]:
    """The first sign-in: password, then the enrolment page; returns the seed, the recovery codes
    and the code that enrolled."""
    response = await password_step(client, email)
    assert response.status_code == 303 and response.headers["location"] == "/login/second-factor/setup"
    page = await client.get("/login/second-factor/setup")
    assert page.status_code == 200
    assert "<svg" in page.text and 'class="segno"' in page.text  # the QR code, drawn on the server
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    wrong = await client.post(
        "/login/second-factor/setup", data={"code": "000000", "_csrf_token": csrf_from(page.text)}
    )
    assert wrong.status_code == 400 and 'id="e-code"' in wrong.text
    code = pyotp.TOTP(secret).now()
    done = await client.post(
        "/login/second-factor/setup", data={"code": code, "_csrf_token": csrf_from(wrong.text)}
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes, code


async def test_first_sign_in_enrols_and_nothing_is_reachable_before(mfa_app):
    email = (await Factory.of_app(mfa_app).platform_admin()).email
    async with client_for(mfa_app) as client:
        await password_step(client, email)
        # The password alone is no session: no platform page, no API.
        assert (await client.get("/admin/tenants")).status_code == 303
        assert (await client.get("/api/v1/sysadmin/tenants")).status_code == 401
        secret, _codes, _ = await enrol(client, email)
        assert (await client.get("/admin/tenants")).status_code == 200
    async with mfa_app.state.portal.sessions() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user.has_second_factor and secret not in (user.totp_secret_wrapped or "")
        events = (await db.scalars(select(AuditEvent).where(AuditEvent.target == f"user:{email}"))).all()
    assert "user.second_factor_enrolled" in [e.action for e in events]
    assert all(secret not in str(e.details) for e in events)


async def test_codes_are_accepted_once_and_recovery_codes_once(mfa_app):
    email = (await Factory.of_app(mfa_app).platform_admin()).email
    async with client_for(mfa_app) as first:
        secret, codes, enrolled_with = await enrol(first, email)
    totp = pyotp.TOTP(secret)
    async with client_for(mfa_app) as client:
        assert (await password_step(client, email)).headers["location"] == "/login/second-factor"
        assert (await client.get("/admin/tenants")).status_code == 303
        # The code that enrolled (same time step) was used already.
        replay = await second_step(client, enrolled_with)
        assert replay.status_code == 400 and "not right" in html.unescape(replay.text)
        assert (await client.get("/admin/tenants")).status_code == 303
        signed_in = await second_step(client, totp.at(time.time() + 30))  # the next step, within drift
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/tenants"
        assert (await client.get("/admin/tenants")).status_code == 200
    async with client_for(mfa_app) as client:
        await password_step(client, email)
        recovered = await second_step(client, codes[3].upper())
        assert recovered.status_code == 303
        assert "9 left" in (await client.get("/admin/tenants")).text
    async with client_for(mfa_app) as client:
        await password_step(client, email)
        assert (await second_step(client, codes[3])).status_code == 400


async def test_a_stale_pending_sign_in_or_a_foreign_browser_cannot_use_the_second_step(mfa_app):
    email = (await Factory.of_app(mfa_app).platform_admin()).email
    async with client_for(mfa_app) as client:
        secret, _, _ = await enrol(client, email)
    async with client_for(mfa_app) as stranger:
        page = await stranger.get("/login")
        answer = await stranger.post(
            "/login/second-factor",
            data={"code": pyotp.TOTP(secret).at(time.time() + 30), "_csrf_token": csrf_from(page.text)},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
        assert (await stranger.get("/admin/tenants")).status_code == 303


async def test_resets_end_every_session(mfa_app):
    email = (await Factory.of_app(mfa_app).platform_admin()).email
    async with client_for(mfa_app) as client:
        await enrol(client, email)
        assert (await client.get("/admin/tenants")).status_code == 200
        async with unit_of_work(mfa_app.state.portal.sessions) as db:
            await reset_platform_admin_mfa(db, Actor.system("test"), email=email)
        assert (await client.get("/admin/tenants")).status_code == 303
        # The next sign-in enrols again.
        assert (await password_step(client, email)).headers["location"] == "/login/second-factor/setup"
        await enrol_again(client)
        assert (await client.get("/admin/tenants")).status_code == 200
        async with unit_of_work(mfa_app.state.portal.sessions) as db:
            await create_platform_admin(
                db, Actor.system("test"), email=email, password=PASSWORD, replace_password=True
            )
        assert (await client.get("/admin/tenants")).status_code == 303


async def enrol_again(client: httpx.AsyncClient) -> None:
    page = await client.get("/login/second-factor/setup")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    done = await client.post(
        "/login/second-factor/setup",
        data={"code": pyotp.TOTP(secret).now(), "_csrf_token": csrf_from(page.text)},
    )
    assert done.status_code == 200


async def test_optional_mode_lets_an_admin_without_a_second_factor_in_but_not_one_with_it(app):
    """The shared test app runs PLATFORM_ADMIN_MFA=optional (as the demo does)."""
    assert app.state.portal.settings.platform_admin_mfa == "optional"
    email = (await Factory.of_app(app).platform_admin()).email
    async with client_for(app) as client:
        signed_in = await password_step(client, email)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/tenants"
        assert (await client.get("/admin/tenants")).status_code == 200
        # Choosing to enrol from the signed-in session.
        await enrol_again(client)
        assert (await client.get("/admin/tenants")).status_code == 200
    async with client_for(app) as client:
        assert (await password_step(client, email)).headers["location"] == "/login/second-factor"
        assert (await client.get("/admin/tenants")).status_code == 303


async def test_guessing_codes_is_throttled_and_costs_nothing(mfa_app):
    email = (await Factory.of_app(mfa_app).platform_admin()).email
    async with client_for(mfa_app) as client:
        secret, _, _ = await enrol(client, email)
    async with client_for(mfa_app) as guesser:
        await password_step(guesser, email)
        answers = [(await second_step(guesser, f"{n:06d}")).status_code for n in range(5)]
        assert answers == [400] * 5
        throttled = await second_step(guesser, pyotp.TOTP(secret).at(time.time() + 30))
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        # Throttled means not even checked: the right code did not sign the guesser in.
        assert (await guesser.get("/admin/tenants")).status_code == 303
    async with mfa_app.state.portal.sessions() as db:
        actions = (
            await db.scalars(select(AuditEvent.action).where(AuditEvent.target == f"user:{email}"))
        ).all()
    assert actions.count("auth.throttled") == 1
