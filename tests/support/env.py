"""The test environment: settings, the local services (PostgreSQL, Redis), CI's rules, unique names."""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from pathlib import Path

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


def cli_environ(var_dir: Path, database: str, **overrides: str) -> dict[str, str]:
    """The environment of a `portal` command run by a test: a SQLite database of its own in
    `var_dir`, a fresh encryption key, and fixed secrets."""
    return {
        "PORTAL_VAR_DIR": str(var_dir),
        "DATABASE_URL": sqlite_url(var_dir, database),
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SESSION_SECRET": "s" * 48,
        "API_KEY_SECRET": "k" * 48,
        **overrides,
    }


def sqlite_url(directory: Path, name: str = "portal.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


def unique_slug(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_email(prefix: str = "u", domain: str = "example.com") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@{domain}"
