"""A request whose dependencies fail after `db` was resolved still ends its transaction.

Litestar (2.25) never cleans up a generator dependency resolved before another one raises (a key
that is not the tenant's, a path parameter that names nothing), nor one cancelled with its task
group. The request's session then kept its connection and, on SQLite, BEGIN IMMEDIATE's write lock
until garbage collection: every later writer waited for the 30 s busy timeout (the API fuzzer's
DELETE and POST requests timed out once it had sent such a request)."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import uuid

import pytest

from portal.config import Settings
from tests.support.api import new_tenant, portal_url

PROBE_TIMEOUT_S = 2.0  # far longer than any transaction of the app's background tasks


def _write_lock_free(settings: Settings) -> bool:
    """Whether another connection gets SQLite's write lock within PROBE_TIMEOUT_S."""
    connection = sqlite3.connect(settings.database_url.split(":///", 1)[1], timeout=PROBE_TIMEOUT_S)
    connection.isolation_level = None
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "rest"),
    [
        ("DELETE", "api-keys/{unknown}"),  # the key's loader raises after the tenant loaded
        ("POST", "api-keys/{unknown}/rotate"),
        ("POST", "credentials/not-a-provider/test"),
        ("PATCH", "api-keys/{unknown}"),
    ],
)
async def test_a_failed_dependency_leaves_no_transaction_open(api, settings, method, rest):
    tenant = await new_tenant(api)
    gc.disable()  # a collection must not hide the leak by finalizing the abandoned session
    try:
        response = await api.request(method, portal_url(tenant, "/" + rest.format(unknown=uuid.uuid4())))
        assert response.status_code in (400, 404), response.text
        if settings.is_sqlite:
            assert await asyncio.to_thread(_write_lock_free, settings), "the failed request kept the lock"
        created = await api.post(portal_url(tenant, "/api-keys"), json={"name": "after"})
        assert created.status_code == 201, created.text
    finally:
        gc.enable()
