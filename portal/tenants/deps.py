"""The tenant named in the path, by UUID or slug: 404 when unknown."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Tenant
from portal.tenants.services import find_tenant


async def _find_or_release(db: AsyncSession, ref: str) -> Tenant:
    try:
        return await find_tenant(db, ref)
    except BaseException:
        # Litestar (2.25) does not clean up generator dependencies resolved before one that
        # raises: without this, the `db` session would keep its connection, transaction and,
        # on SQLite, the write lock until garbage collection (later writers: "database is locked").
        await db.close()
        raise


async def provide_tenant_by_id(db: AsyncSession, tenant_id: str) -> Tenant:
    return await _find_or_release(db, tenant_id)


async def provide_tenant_by_slug(db: AsyncSession, slug: str) -> Tenant:
    return await _find_or_release(db, slug)
