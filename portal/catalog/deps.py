"""A tenant's provider or model named in the path, loaded for the handler or answered with 404."""

from __future__ import annotations

from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from portal.catalog.services import find_model, find_provider
from portal.db.models import Model, Provider, Tenant
from portal.tenants.deps import load_or_release


async def provide_provider(db: AsyncSession, tenant: Tenant, provider_id: str) -> Provider:
    """`{provider_id}`: one the tenant can see, by id or name."""
    return await load_or_release(db, find_provider(db, tenant, provider_id))


async def provide_named_provider(db: AsyncSession, tenant: Tenant, provider: str) -> Provider:
    """`{provider}` (the credential routes' name for it): one the tenant can see, by id or name."""
    return await load_or_release(db, find_provider(db, tenant, provider))


async def provide_model(db: AsyncSession, tenant: Tenant, model_id: str) -> Model:
    return await load_or_release(db, find_model(db, tenant, model_id))


PROVIDER = {"provider": Provide(provide_provider)}
MODEL = {"model": Provide(provide_model)}
NAMED_PROVIDER = {"named_provider": Provide(provide_named_provider)}
