"""Shared test helpers: settings, databases, signed-in clients, the services' availability."""

from __future__ import annotations

import os
import re
import secrets
import socket
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portal.config import Settings, load_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
API_KEY = "test-platform-key-" + "x" * 16
CANARY = "sk-canary-" + secrets.token_hex(16)  # a secret that must never show up anywhere


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def need_service(name: str, host: str, port: int) -> None:
    """Skip where a local service is missing, but never in CI: there it must run."""
    if port_open(host, port):
        return
    message = f"{name} is not answering on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}; CI must run these tests")
    pytest.skip(message)


def make_settings(var_dir: Path, database_url: str | None = None, **overrides: str) -> Settings:
    env: dict[str, str] = {
        "PORTAL_VAR_DIR": str(var_dir),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SESSION_SECRET": secrets.token_urlsafe(48),
        "API_KEY_SECRET": secrets.token_urlsafe(48),
        "SUPER_API_KEY": API_KEY,
        "PROVIDER_TEST_TIMEOUT": "2",
        # The stubs listen on loopback; tests of the egress policy itself override this.
        "OUTBOUND_ALLOW": "127.0.0.1,::1",
        # The shared test admin signs in with the password alone (a code is accepted only once per
        # 30 s, and the suite signs in far more often); test_second_factor.py runs "required".
        "PLATFORM_ADMIN_MFA": "optional",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(overrides)
    return load_settings(env)


async def create_pg_database() -> str:
    import asyncpg

    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def api_headers(extra: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"X-API-Key": API_KEY, **(extra or {})}


@contextmanager
def served_in_thread(settings: Settings, name: str) -> Iterator[str]:
    """uvicorn serving create_app(settings) in a thread (its own event loop), on a loopback socket
    bound first (so the port is known before anything is configured); its URL once /health answers."""
    import threading

    import uvicorn

    from portal.asgi import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        _wait_for_health(url, thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
    assert not thread.is_alive(), f"the {name} server did not stop within 15 s"


def _wait_for_health(url: str, thread: Any, timeout: float = 30.0) -> None:
    """Poll /health until it answers, within a deadline; stop early if the server thread died."""
    import time

    import httpx

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
