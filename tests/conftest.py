"""Fixtures: the app on SQLite and on PostgreSQL (one per backend for the session), every test on
the session's database starting from the same clean slate, API and signed-in clients, a stub provider.
Helpers live in tests.support (see its docstring for which module holds what)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar

from portal.config import Settings
from portal.db.migrate import upgrade
from portal.demo.stub_provider import StubProvider
from tests.support.apps import client_for, forget_state, start_app, stop_app, write_pending
from tests.support.databases import CleanSlate, create_pg_database, drop_pg_database
from tests.support.env import API_KEY, CANARY, IN_CI, make_settings, need_service, sqlite_url
from tests.support.factories import Factory
from tests.support.signin import ADMIN_EMAIL, ADMIN_PASSWORD, sign_in

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
        yield sqlite_url(tmp_path_factory.mktemp("db"))
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


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    """The app with its lifespan entered, in the tests' own event loop; its database holds the
    built-in catalogue (synced at start-up) and one platform admin."""
    await upgrade(settings)
    application = await start_app(settings)
    await Factory.of_app(application).platform_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    yield application
    await stop_app(application)


@pytest.fixture(scope="session")
async def clean_slate(app: Litestar) -> CleanSlate:
    """What the session's database holds before any test: every test starts from exactly this."""
    return await CleanSlate.snapshot(app.state.portal.engine)


@pytest.fixture
async def back_to_clean_slate(clean_slate: CleanSlate, settings: Settings) -> AsyncIterator[None]:
    yield
    await write_pending(settings.database_url)
    await clean_slate.restore()
    await forget_state(settings.database_url)


@pytest.fixture(autouse=True)
def isolated(request: pytest.FixtureRequest) -> None:
    """A test on the session's database leaves it as it found it: its rows are gone afterwards, and
    every app on that database forgets what it cached of them. Tests with a database of their own
    (fresh_database, the fuzzer's, the browser tests') are not touched."""
    if "database_url" in request.fixturenames:
        request.getfixturevalue("back_to_clean_slate")


@pytest.fixture
def make(app: Litestar) -> Factory:
    """Test data through the services, on the session's database (tests.support.factories)."""
    return Factory.of_app(app)


@pytest.fixture(scope="session")
async def api(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """A client that authenticates with the platform API key."""
    async with client_for(app, headers={"X-API-Key": API_KEY}) as client:
        yield client


@pytest.fixture
async def anon(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture(scope="session")
async def browser_session(app: Litestar) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in as platform admin through the sign-in form, and its CSRF token (its
    session lives in the app's session store, which the clean slate leaves alone)."""
    async with client_for(app) as client:
        token = await sign_in(client)
        yield client, token


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


# Imported from here by older tests (and other branches); the helpers live in tests.support.
__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "CANARY", "client_for", "sign_in"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            backend_param = item.callspec.params.get("backend") if hasattr(item, "callspec") else None
            if backend_param == "postgres":
                item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    """Under CI nothing may be skipped: the services and the browser are there."""
    skipped = terminalreporter.stats.get("skipped", [])
    if IN_CI and skipped:
        terminalreporter.write_line(
            f"CI: {len(skipped)} test(s) skipped; under CI every test must run.", red=True
        )
        terminalreporter._session.exitstatus = 1
