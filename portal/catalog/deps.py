"""A tenant's provider or model named in the path, loaded for the handler or answered with 404."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from portal.catalog.services import find_model, find_provider
from portal.db.models import Model, Provider
from portal.tenants.deps import CurrentTenant, load_or_release
from portal.web.deps import Db

PathProvider: TypeAlias = NamedDependency[Provider]
"""`provider` (or `named_provider`): the tenant's provider the path names."""
PathModel: TypeAlias = NamedDependency[Model]


async def provide_provider(db: Db, tenant: CurrentTenant, provider_id: FromPath[str]) -> Provider:
    """`{provider_id}`: one the tenant can see, by id or name."""
    return await load_or_release(db, find_provider(db, tenant, provider_id))


async def provide_named_provider(db: Db, tenant: CurrentTenant, provider: FromPath[str]) -> Provider:
    """`{provider}` (the credential routes' name for it): one the tenant can see, by id or name."""
    return await load_or_release(db, find_provider(db, tenant, provider))


async def provide_model(db: Db, tenant: CurrentTenant, model_id: FromPath[str]) -> Model:
    return await load_or_release(db, find_model(db, tenant, model_id))


PROVIDER = {"provider": Provide(provide_provider)}
MODEL = {"model": Provide(provide_model)}
NAMED_PROVIDER = {"named_provider": Provide(provide_named_provider)}
