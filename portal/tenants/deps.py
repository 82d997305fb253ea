"""The tenant named in the path, by UUID or slug: 404 when unknown.

Where a tenant guard ran first, it resolved the path to a tenant id: that tenant is loaded, so the
guard and the loader can never disagree on which tenant the path names.

`load_or_release` is the one way a dependency loads a row or answers 404 (the tenant here, a
tenant's provider or model in portal.catalog.deps, a credential in portal.credentials.deps)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any, TypeAlias, TypeVar

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from portal.db.models import Tenant
from portal.errors import found
from portal.tenant_refs import RESOLVED_TENANT_ID
from portal.tenants.services import find_tenant, shred_deleted
from portal.web.deps import CurrentActor, CurrentSettings, Db, TenantRequest
from portal.web.templating import TenantPage

T = TypeVar("T")
DELETED_TENANT = "portal_deleted_tenant"

CurrentTenant: TypeAlias = NamedDependency[Tenant]
"""`tenant: CurrentTenant`: the tenant the path names."""
ApiCtx: TypeAlias = NamedDependency[TenantRequest]
"""`ctx: ApiCtx`: the tenant API request's context (portal.web.deps.TenantRequest); see `api_of`."""
PageCtx: TypeAlias = NamedDependency[TenantPage]
"""`ctx: PageCtx`: the tenant page's context (portal.web.templating.TenantPage); see `page_of`."""


async def _load(db: AsyncSession, ref: str, request: Request[Any, Any, Any]) -> Tenant:
    if RESOLVED_TENANT_ID not in request.scope:
        return await find_tenant(db, ref)
    resolved: uuid.UUID | None = request.scope[RESOLVED_TENANT_ID]  # type: ignore[literal-required]
    return found(await db.get(Tenant, resolved) if resolved is not None else None, "Tenant")


async def load_or_release(db: AsyncSession, load: Awaitable[T]) -> T:
    """What `load` finds (a NotFound becomes the 404); whatever it raises, the session is released."""
    try:
        return await load
    except BaseException:
        # Litestar (2.25) does not clean up generator dependencies resolved before one that
        # raises: without this, the `db` session would keep its connection, transaction and,
        # on SQLite, the write lock until garbage collection (later writers: "database is locked").
        await db.close()
        raise


async def provide_tenant_by_id(db: Db, tenant_id: FromPath[str], request: Request[Any, Any, Any]) -> Tenant:
    return await load_or_release(db, _load(db, tenant_id, request))


async def provide_tenant_by_slug(db: Db, slug: FromPath[str], request: Request[Any, Any, Any]) -> Tenant:
    return await load_or_release(db, _load(db, slug, request))


def page_of(tab: str) -> dict[str, Provide]:
    """The dependencies of a controller of `/t/{slug}/...` pages: the tenant, and the `ctx` of `tab`."""

    def provide_page(
        request: Request[Any, Any, Any],
        db: Db,
        settings: CurrentSettings,
        actor: CurrentActor,
        tenant: CurrentTenant,
    ) -> TenantPage:
        return TenantPage(request, db, settings, actor, tenant, tab)

    return {"tenant": Provide(provide_tenant_by_slug), "ctx": Provide(provide_page, sync_to_thread=False)}


def provide_tenant_request(
    request: Request[Any, Any, Any],
    db: Db,
    settings: CurrentSettings,
    actor: CurrentActor,
    tenant: CurrentTenant,
) -> TenantRequest:
    return TenantRequest(request, db, settings, actor, tenant)


API = {"tenant": Provide(provide_tenant_by_id), "ctx": Provide(provide_tenant_request, sync_to_thread=False)}
"""The dependencies of a controller of `/api/.../tenants/{tenant_id}/...`: the tenant, and the `ctx`."""


def shred_once_committed(request: Request[Any, Any, Any], tenant_id: uuid.UUID) -> None:
    """Have `shred_deleted_tenant` (the deleting route's after_response hook) shred this deletion."""
    request.state[DELETED_TENANT] = tenant_id


async def shred_deleted_tenant(request: Request[Any, Any, Any]) -> None:
    """After the response, so after the request's transaction committed the deletion: empty the WAL
    (portal.tenants.services.shred_deleted)."""
    tenant_id = request.state.get(DELETED_TENANT)
    if tenant_id is not None:
        await shred_deleted(request.app.state.portal.engine, tenant_id)
