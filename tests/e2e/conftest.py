"""Browser tests: the portal served by uvicorn on loopback, driven by Debian's Chromium.

Playwright's async API throughout: pytest-playwright's sync fixtures would need an event loop of
their own. Chromium comes from Debian (`playwright install` cannot download here).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright

from portal.asgi import create_app
from portal.audit.actor import Actor
from portal.config import Settings
from portal.db.engine import create_engine, create_session_factory
from portal.db.migrate import upgrade
from portal.demo.stub_provider import StubProvider
from portal.identity.services import create_platform_admin
from tests.e2e.support import ADMIN_EMAIL, ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, PROVIDER_KEY, new_context
from tests.support import IN_CI, make_settings


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
    settings = make_settings(
        var_dir, f"sqlite+aiosqlite:///{var_dir / 'portal.db'}", OPENAI_BASE_URL=f"{e2e_stub.url}/v1"
    )
    await upgrade(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as db:
            await create_platform_admin(db, Actor.system("e2e"), email=ADMIN_EMAIL, password=ADMIN_PASSWORD)
    finally:
        await engine.dispose()
    return settings


def _wait_for_health(url: str, thread: threading.Thread, timeout: float = 20.0) -> None:
    """Poll /health until it answers, within a deadline; stop early if the server thread died."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            thread.join(0.05)  # returns at once if the thread has ended
            if not thread.is_alive():
                pytest.fail("the portal's server thread ended before answering /health")
    pytest.fail(f"the portal did not answer {url}/health within {timeout:g} s")


@pytest.fixture(scope="session")
def live_server(e2e_settings: Settings, e2e_stub: StubProvider) -> Iterator[LiveServer]:
    """uvicorn serving create_app() in a thread, on a socket already bound to a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(e2e_settings),
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
    thread.start()
    try:
        _wait_for_health(url, thread)
        yield LiveServer(url=url, settings=e2e_settings, stub=e2e_stub)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), "the portal's server did not stop within 15 s"


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
