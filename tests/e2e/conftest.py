"""Browser tests: the portal served by uvicorn on loopback, driven by Debian's Chromium.

Playwright's async API throughout: pytest-playwright's sync fixtures would need an event loop of
their own. Chromium comes from Debian (`playwright install` cannot download here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, Page, async_playwright

from portal.config import Settings
from portal.db.engine import create_engine
from portal.demo.stub_provider import StubProvider
from tests.support.apps import forget_state, write_pending
from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PROVIDER_KEY,
    migrated_with_admin,
    new_context,
)
from tests.support.databases import CleanSlate
from tests.support.env import IN_CI, make_settings, sqlite_url
from tests.support.servers import served_in_thread


@dataclass(frozen=True)
class LiveServer:
    url: str
    settings: Settings
    stub: StubProvider


@pytest.fixture(scope="session")
def e2e_stub() -> Iterator[StubProvider]:
    stub = StubProvider({PROVIDER_KEY}).start()
    yield stub
    stub.stop()


@pytest.fixture(scope="session")
async def e2e_settings(tmp_path_factory: pytest.TempPathFactory, e2e_stub: StubProvider) -> Settings:
    """Settings on a fresh SQLite file, migrated, with one platform admin."""
    var_dir = tmp_path_factory.mktemp("e2e")
    settings = make_settings(var_dir, sqlite_url(var_dir), OPENAI_BASE_URL=f"{e2e_stub.url}/v1")
    return await migrated_with_admin(settings)


@pytest.fixture(scope="session")
def live_server(e2e_settings: Settings, e2e_stub: StubProvider) -> Iterator[LiveServer]:
    """uvicorn serving create_app() in a thread, on a socket already bound to a free loopback port."""
    with served_in_thread(e2e_settings, "e2e-uvicorn") as url:
        yield LiveServer(url=url, settings=e2e_settings, stub=e2e_stub)


@pytest.fixture(scope="session")
async def e2e_clean_slate(live_server: LiveServer) -> AsyncIterator[CleanSlate]:
    """The live server's database as it started: one platform admin, the built-in catalogue."""
    engine = create_engine(live_server.settings)
    yield await CleanSlate.snapshot(engine)
    await engine.dispose()


@pytest.fixture
async def e2e_back_to_clean_slate(
    e2e_clean_slate: CleanSlate, live_server: LiveServer
) -> AsyncIterator[None]:
    yield
    await write_pending(live_server.settings.database_url)
    await e2e_clean_slate.restore()
    await forget_state(live_server.settings.database_url)


@pytest.fixture(autouse=True)
def e2e_isolated(request: pytest.FixtureRequest) -> None:
    """A browser test leaves the live server's database as it found it (as tests/conftest.py's
    `isolated` does for the in-process app's)."""
    if "live_server" in request.fixturenames:
        request.getfixturevalue("e2e_back_to_clean_slate")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(f"{message}: CI must run the browser tests")
        pytest.skip(message)
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def chromium(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def browser_page(chromium: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    context = await new_context(chromium, live_server.url)
    page = await context.new_page()
    yield page
    await context.close()


@pytest.fixture
async def nojs_page(chromium: Browser, live_server: LiveServer) -> AsyncIterator[Page]:
    """A page in a context with JavaScript switched off: plain HTML forms only."""
    context = await new_context(chromium, live_server.url, java_script_enabled=False)
    page = await context.new_page()
    yield page
    await context.close()
