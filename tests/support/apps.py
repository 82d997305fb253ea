"""Apps started by the tests, in the tests' event loop, and what each one keeps in memory.

Every app a test starts goes through `start_app` (or `served_in_thread`, tests.support.servers), so
the clean slate between tests reaches every running app on the database it empties: first each
writes the usage events it still batches, then, once the rows are restored, it forgets the hot
path's cache and its place in the change feed, and the sign-in throttle's counts (and the process
forgets the OpenID metadata it cached).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar

from portal.asgi import create_app
from portal.config import Settings
from portal.identity.oidc.metadata import CACHE as OIDC_METADATA


@dataclass(eq=False)
class Running:
    app: Litestar
    loop: asyncio.AbstractEventLoop  # where its background tasks run (a server thread's own)


RUNNING: list[Running] = []


def register(app: Litestar, loop: asyncio.AbstractEventLoop) -> Running:
    running = Running(app, loop)
    RUNNING.append(running)
    return running


def unregister(running: Running) -> None:
    if running in RUNNING:
        RUNNING.remove(running)


async def start_app(settings: Settings, **options: Any) -> Litestar:
    """create_app(settings) with its start-up hooks run in this event loop. The hooks are called
    directly: anyio's lifespan scope cannot span pytest-asyncio's separate setup and teardown."""
    app = create_app(settings, **options)
    for hook in app.on_startup:
        await hook(app)
    register(app, asyncio.get_running_loop())
    return app


async def stop_app(app: Litestar) -> None:
    for running in [r for r in RUNNING if r.app is app]:
        unregister(running)
    for hook in app.on_shutdown:
        await hook(app)


@asynccontextmanager
async def running_app(settings: Settings, **options: Any) -> AsyncIterator[Litestar]:
    app = await start_app(settings, **options)
    try:
        yield app
    finally:
        await stop_app(app)


def client_for(app: Litestar, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client that calls the app in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", **kwargs)


async def write_pending(database_url: str) -> None:
    """Every running app on this database writes what it still holds for it (usage events batched
    off the request path), so nothing of a test lands after its rows are gone."""
    await _each(database_url, _write_pending)


async def forget_state(database_url: str) -> None:
    """Every running app on this database forgets what it cached of rows that are gone."""
    OIDC_METADATA.clear()
    await _each(database_url, _forget)


async def _each(database_url: str, work: Callable[[Litestar], Coroutine[Any, Any, None]]) -> None:
    here = asyncio.get_running_loop()
    for running in list(RUNNING):
        if running.app.state.portal.settings.database_url != database_url:
            continue
        if running.loop is here:
            await work(running.app)
        else:  # a server thread's app: its own loop runs it
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work(running.app), running.loop))


async def _write_pending(app: Litestar) -> None:
    await app.state.portal.usage_recorder.flush()


async def _forget(app: Litestar) -> None:
    await app.state.hotpath.forget_all()
    await app.state.portal.throttle.forget_all()
