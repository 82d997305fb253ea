"""`portal demo`'s single sign-on: its identity provider and seeded people, signing in for real."""

from __future__ import annotations

import httpx
import pytest

from portal.demo.seed import seed_demo
from portal.demo.sso import seed_sso, start_identity_provider
from tests.support.apps import client_for, running_app
from tests.support.signin import csrf_from
from tests.support.sso import authorize_at_provider, local


@pytest.fixture
async def demo_app(fresh_database, stub_provider):
    settings, _sessions = fresh_database
    await seed_demo(settings, "demo admin password", stub_provider.url)
    idp = start_identity_provider(settings, "127.0.0.1", 0)
    await seed_sso(settings, idp.issuer)
    await seed_sso(settings, idp.issuer)  # safe to run again (every `portal demo` start does)
    try:
        async with running_app(settings) as app:
            yield app, idp
    finally:
        idp.stop()


async def sign_in(app, idp, email: str, subject: str) -> tuple[httpx.AsyncClient, httpx.Response]:
    client = client_for(app)
    token = csrf_from((await client.get("/login")).text)
    started = await client.post("/login/sso", data={"sso_email": email, "_csrf_token": token})
    assert started.status_code == 303, started.text
    callback = await authorize_at_provider(idp, started.headers["location"], subject)
    return client, await client.get(local(callback))


DEMO_PEOPLE = [
    ("alice@acme.example", "demo-alice", "/t/acme admin"),
    ("bob@acme.example", "demo-bob", "/t/acme member"),
    ("carol@globex.example", "demo-carol", "/t/globex admin"),
    ("dave@globex.example", "demo-dave", "/t/globex member"),
    ("erin@acme.example", "demo-erin", "/t/acme member"),
    ("mallory@globex.example", "demo-mallory", "refused"),
]


async def test_demo_people_sign_in_through_the_demo_provider(demo_app):
    """One demo database per backend (made once: migrations and seeding take seconds) for all of them."""
    app, idp = demo_app
    for email, subject, outcome in DEMO_PEOPLE:
        client, response = await sign_in(app, idp, email, subject)
        try:
            if outcome == "refused":
                assert response.status_code == 403
                assert "You are not a member of Globex" in response.text
                continue
            where, role = outcome.split()
            assert response.status_code == 303, (email, response.text)
            assert response.headers["location"] == where
            page = await client.get(where)
            assert f"tenant {role}" in page.text, email
        finally:
            await client.aclose()
