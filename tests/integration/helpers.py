"""Helpers shared by the integration tests: tenants through the API, direct SQL, odd servers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import select, update

from portal.db.models import AuditEvent, Credential
from tests.support import unique_slug

TENANTS = "/api/v1/sysadmin/tenants"
AZURE_API_VERSION = "2024-10-21"


async def new_tenant(api: httpx.AsyncClient, name: str = "Test tenant", **extra: Any) -> dict[str, Any]:
    """A fresh tenant created through the API; returns its JSON."""
    response = await api.post(TENANTS, json={"name": name, "slug": extra.pop("slug", unique_slug()), **extra})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def portal_url(tenant: dict[str, Any], rest: str = "") -> str:
    return f"/api/portal/tenants/{tenant['id']}{rest}"


def credentials_url(tenant: dict[str, Any], provider: str = "") -> str:
    return f"{TENANTS}/{tenant['id']}/credentials" + (f"/{provider}" if provider else "")


def azure_fields(endpoint: str, api_key: str) -> dict[str, str]:
    return {
        "api_key": api_key,
        "endpoint": endpoint,
        "api_version": AZURE_API_VERSION,
        "deployment_name": "gpt-4o-prod",
    }


async def credential_rows(app: Litestar, tenant_id: str) -> list[Credential]:
    async with app.state.portal.sessions() as db:
        return list(await db.scalars(select(Credential).where(Credential.tenant_id == uuid.UUID(tenant_id))))


async def set_sealed_fields(app: Litestar, credential_id: uuid.UUID, sealed: dict[str, str]) -> None:
    async with app.state.portal.sessions() as db:
        await db.execute(
            update(Credential).where(Credential.id == credential_id).values(sealed_fields=sealed)
        )
        await db.commit()


async def audit_rows(app: Litestar, tenant_id: str | None = None, **where: Any) -> list[AuditEvent]:
    async with app.state.portal.sessions() as db:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if tenant_id is not None:
            query = query.where(AuditEvent.tenant_id == uuid.UUID(tenant_id))
        for column, value in where.items():
            query = query.where(getattr(AuditEvent, column) == value)
        return list(await db.scalars(query))


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
