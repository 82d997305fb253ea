"""Dependencies of the API-key controllers: the hot path (with the app's clock), the time now, and
the tenant's key named by the path (404 for another tenant's or an unknown one)."""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from portal.apikeys.hotpath import HotPath
from portal.apikeys.queries import find_key
from portal.db.models import ApiKey
from portal.tenants.deps import CurrentTenant, page_of
from portal.web.deps import Db

TheHotPath: TypeAlias = NamedDependency[HotPath]
Now: TypeAlias = NamedDependency[datetime]
PathKey: TypeAlias = NamedDependency[ApiKey]
"""`key: PathKey`: the tenant's key the path's `key_id` names."""


def provide_hotpath(state: State) -> HotPath:
    return state.hotpath


def provide_now(state: State) -> datetime:
    """The app's clock (tests move it; production reads the system clock)."""
    return state.hotpath.clock()


async def provide_key(db: Db, tenant: CurrentTenant, key_id: FromPath[str]) -> ApiKey:
    """The key of the path's `key_id` within the path's tenant; NotFound (404) otherwise."""
    return await find_key(db, key_id, tenant)


COMMON = {
    "hotpath": Provide(provide_hotpath, sync_to_thread=False),
    "now": Provide(provide_now, sync_to_thread=False),
    "key": Provide(provide_key),
}
PAGES = {**COMMON, **page_of("api-keys")}
"""The API-key pages' dependencies (their tab of the tenant's pages)."""
