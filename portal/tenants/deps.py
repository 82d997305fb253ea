"""The tenant named in the path, by UUID or slug: 404 when unknown.

Where a tenant guard ran first, it resolved the path to a tenant id: that tenant is loaded, so the
guard and the loader can never disagree on which tenant the path names."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Tenant
from portal.errors import NotFound
from portal.tenant_refs import RESOLVED_TENANT_ID
from portal.tenants.services import find_tenant


async def _load(db: AsyncSession, ref: str, request: Request[Any, Any, Any]) -> Tenant:
    if RESOLVED_TENANT_ID not in request.scope:
        return await find_tenant(db, ref)
    resolved: uuid.UUID | None = request.scope[RESOLVED_TENANT_ID]  # type: ignore[literal-required]
    tenant = await db.get(Tenant, resolved) if resolved is not None else None
    if tenant is None:
        raise NotFound("Tenant not found")
    return tenant


async def _find_or_release(db: AsyncSession, ref: str, request: Request[Any, Any, Any]) -> Tenant:
    try:
        return await _load(db, ref, request)
    except BaseException:
        # Litestar (2.25) does not clean up generator dependencies resolved before one that
        # raises: without this, the `db` session would keep its connection, transaction and,
        # on SQLite, the write lock until garbage collection (later writers: "database is locked").
        await db.close()
        raise


async def provide_tenant_by_id(db: AsyncSession, tenant_id: str, request: Request[Any, Any, Any]) -> Tenant:
    return await _find_or_release(db, tenant_id, request)


async def provide_tenant_by_slug(db: AsyncSession, slug: str, request: Request[Any, Any, Any]) -> Tenant:
    return await _find_or_release(db, slug, request)
