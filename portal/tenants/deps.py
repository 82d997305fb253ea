"""The tenant named in the path, by UUID or slug: 404 when unknown."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Tenant
from portal.tenants.services import find_tenant


async def provide_tenant_by_id(db: AsyncSession, tenant_id: str) -> Tenant:
    return await find_tenant(db, tenant_id)


async def provide_tenant_by_slug(db: AsyncSession, slug: str) -> Tenant:
    return await find_tenant(db, slug)
