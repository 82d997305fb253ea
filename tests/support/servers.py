"""Real servers on loopback: the portal under uvicorn in a thread, and odd servers for failure cases."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar

from portal.asgi import create_app
from portal.config import Settings
from tests.support.apps import register, unregister


def loopback_socket() -> socket.socket:
    """A socket bound to a free loopback port (so the port is known before anything is configured)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served_in_thread(settings: Settings, name: str, sock: socket.socket | None = None) -> Iterator[str]:
    """uvicorn serving create_app(settings) in a thread (its own event loop), on a loopback socket
    bound first; its URL once /health answers. The app is registered (tests.support.apps) while
    it runs, so the clean slate between tests reaches it."""
    sock = sock or loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings)
    registered: list[Any] = []

    async def remember_loop(app: Litestar) -> None:
        registered.append(register(app, asyncio.get_running_loop()))

    app.on_startup.append(remember_loop)
    # The standard event loop, not uvloop: with several servers in threads of one process, the
    # garbage collector of one thread may finalise another thread's uvloop handles (a segfault seen in
    # long runs). A deployment runs one loop per process, where uvloop is safe.
    config = uvicorn.Config(
        app,
        loop="asyncio",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        wait_for_health(url, thread)
        yield url
    finally:
        for running in registered:
            unregister(running)
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), f"the {name} server did not stop within 15 s"


def wait_for_health(url: str, thread: threading.Thread, timeout: float = 30.0) -> None:
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


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def silent_server() -> Iterator[str]:
    """A local server that accepts connections (the kernel does) but never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
