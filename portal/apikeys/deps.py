"""Dependencies of the API-key controllers: the hot path (with the app's clock) and the time now."""

from __future__ import annotations

from datetime import datetime

from litestar.datastructures import State
from litestar.di import Provide

from portal.apikeys.hotpath import HotPath
from portal.tenants.deps import provide_tenant_by_id, provide_tenant_by_slug


def provide_hotpath(state: State) -> HotPath:
    return state.hotpath  # type: ignore[no-any-return]


def provide_now(state: State) -> datetime:
    """The app's clock (tests move it; production reads the system clock)."""
    return state.hotpath.clock()  # type: ignore[no-any-return]


COMMON = {
    "hotpath": Provide(provide_hotpath, sync_to_thread=False),
    "now": Provide(provide_now, sync_to_thread=False),
}
BY_ID = {**COMMON, "tenant": Provide(provide_tenant_by_id)}
BY_SLUG = {**COMMON, "tenant": Provide(provide_tenant_by_slug)}
