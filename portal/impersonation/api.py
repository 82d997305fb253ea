"""JSON API: /api/v1/admin/impersonate and /api/v1/admin/stop-impersonation."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.params import JSONBody

from portal.impersonation.schemas import ImpersonateIn, ImpersonationOut
from portal.impersonation.session import begin, end
from portal.web.deps import CurrentActor, Db
from portal.web.guards import requires_platform_admin, requires_platform_admin_person
from portal.web.openapi import CHANGE, errors


class ImpersonationApi(Controller):
    path = "/api/v1/admin"
    tags = ["impersonation"]

    @post("/impersonate", guards=[requires_platform_admin], status_code=200, responses=CHANGE)
    async def impersonate(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, data: JSONBody[ImpersonateIn]
    ) -> ImpersonationOut:
        """Act as the admin of one tenant for 60 minutes (session only; `reason` is required)."""
        return ImpersonationOut.of(await begin(request, db, actor, data.tenant_id, data.reason))

    @post(
        "/stop-impersonation",
        guards=[requires_platform_admin_person],
        status_code=200,
        responses=errors(401, 403, 409, 429),
    )
    async def stop_impersonation(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor
    ) -> ImpersonationOut:
        """End the session's impersonation; 409 when there is none."""
        await end(request, db, actor)
        return ImpersonationOut.of(None)
