"""Fixtures: the app on SQLite and on PostgreSQL, API and signed-in clients, a stub provider."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar

from portal.asgi import create_app
from portal.config import Settings
from portal.db.migrate import upgrade
from portal.db.session import unit_of_work
from portal.demo.stub_provider import StubProvider
from tests.support import (
    API_KEY,
    CANARY,
    create_pg_database,
    csrf_from,
    drop_pg_database,
    make_settings,
    need_service,
)

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
VALID_PROVIDER_KEYS = {CANARY, "sk-valid-provider-key-0001"}


@pytest.fixture(scope="session")
def stub_provider() -> Iterator[StubProvider]:
    stub = StubProvider(set(VALID_PROVIDER_KEYS)).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        need_service("PostgreSQL", "127.0.0.1", 5432)
    return str(request.param)


@pytest.fixture(scope="session")
async def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'portal.db'}"
        return
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


@pytest.fixture(scope="session")
def settings(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stub_provider: StubProvider
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("var"),
        database_url,
        OPENAI_BASE_URL=f"{stub_provider.url}/v1",
        ANTHROPIC_API_KEY="sk-valid-provider-key-0001",
        ANTHROPIC_BASE_URL=f"{stub_provider.url}/v1",
    )


async def _admin(app: Litestar) -> None:
    from sqlalchemy import select

    from portal.audit.actor import Actor
    from portal.db.models import User
    from portal.identity.services import create_platform_admin

    state = app.state.portal
    async with unit_of_work(state.sessions) as db:
        if await db.scalar(select(User.id).where(User.email == ADMIN_EMAIL)) is None:
            await create_platform_admin(db, Actor.system("test"), email=ADMIN_EMAIL, password=ADMIN_PASSWORD)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app with its lifespan entered, in the tests' own event loop."""
    await upgrade(settings)
    application = create_app(settings)
    # The hooks are called directly: anyio's lifespan scope cannot span pytest-asyncio's
    # separate setup and teardown tasks.
    for hook in application.on_startup:
        await hook(application)
    await _admin(application)
    yield application
    for hook in application.on_shutdown:
        await hook(application)


def client_for(app: Litestar, **kwargs: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
async def api(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates with the platform API key."""
    async with client_for(app, headers={"X-API-Key": API_KEY}) as client:
        yield client


@pytest.fixture
async def anon(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token for later posts."""
    page = await client.get("/login")
    token = csrf_from(page.text)
    response = await client.post(
        "/login", data={"email": email, "password": password, "_csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_from((await client.get("/admin/tenants")).text)


@pytest.fixture(scope="session")
async def browser_session(app: Litestar) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in as platform admin through the sign-in form, and its CSRF token."""
    async with client_for(app) as client:
        token = await sign_in(client)
        yield client, token


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "CANARY", "sign_in"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            backend_param = item.callspec.params.get("backend") if hasattr(item, "callspec") else None
            if backend_param == "postgres":
                item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """Under CI nothing may be skipped: the services and the browser are there."""
    from tests.support import IN_CI

    skipped = terminalreporter.stats.get("skipped", [])
    if IN_CI and skipped:
        terminalreporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; under CI every test must run.", red=True
        )
        terminalreporter._session.exitstatus = 1
