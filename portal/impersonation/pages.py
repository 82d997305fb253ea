"""The impersonation forms: start (from a tenant's admin page) and stop (from the banner)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.enums import RequestEncodingType
from litestar.params import Body

from portal.errors import InvalidInput, NotFound
from portal.impersonation.session import begin, end
from portal.tenants.services import find_tenant
from portal.web.deps import CurrentActor, Db
from portal.web.guards import requires_platform_admin, requires_platform_admin_person
from portal.web.templating import redirect_after_change, render

START_TEMPLATE = "impersonation/start.html"


class StartForm(msgspec.Struct):
    tenant_id: str = ""
    reason: str = ""


StartData = Annotated[StartForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


class ImpersonationPages(Controller):
    path = "/admin"
    include_in_schema = False

    @post("/impersonate", guards=[requires_platform_admin])
    async def impersonate(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor, data: StartData
    ) -> Response[Any]:
        form = msgspec.structs.asdict(data)
        try:
            imp = await begin(request, db, actor, data.tenant_id, data.reason)
        except InvalidInput as exc:
            try:
                tenant = await find_tenant(db, form["tenant_id"])
            except NotFound:
                raise exc from None
            context = {"target_tenant": tenant, "form": form, "errors": exc.errors}
            return render(request, START_TEMPLATE, context, status_code=400)
        return redirect_after_change(
            request,
            f"/t/{imp.slug}",
            f"You are acting as an admin of {imp.tenant_name} until {imp.expires_at:%H:%M} UTC. "
            "Everything you do is recorded.",
        )

    @post("/stop-impersonation", guards=[requires_platform_admin_person])
    async def stop_impersonation(
        self, request: Request[Any, Any, Any], db: Db, actor: CurrentActor
    ) -> Response[Any]:
        imp = await end(request, db, actor)
        return redirect_after_change(
            request, f"/t/{imp.slug}", f"You stopped acting as an admin of {imp.tenant_name}."
        )
