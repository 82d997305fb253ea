"""The tenant's usage page: spend per day as a chart, gateway traffic per model, each key's share of
its limit, forecasts."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from portal.apikeys.charts import daily_spend_chart
from portal.apikeys.deps import COMMON, Now
from portal.apikeys.queries import in_use, list_keys
from portal.apikeys.spend import daily_series, forecasts, tenant_month
from portal.apikeys.traffic import gateway_traffic
from portal.tenants.deps import PageCtx, page_of
from portal.web.guards import requires_tenant_member


class UsagePages(Controller):
    path = "/t/{slug:str}/usage"
    guards = [requires_tenant_member]
    dependencies = {**COMMON, **page_of("usage")}
    include_in_schema = False

    @get("/")
    async def index(self, ctx: PageCtx, now: Now) -> Response[Any]:
        db, tenant = ctx.db, ctx.tenant
        series = await daily_series(db, now=now, days=30, tenant_id=tenant.id)
        views = in_use(await list_keys(db, tenant, now=now))
        return ctx.render(
            "usage/index.html",
            chart=daily_spend_chart(series, title=f"Daily spend of {tenant.name}, last 30 days (UTC)"),
            series=series,
            total=sum(p.cost_micros for p in series),
            requests=sum(p.requests for p in series),
            forecasts=await forecasts(db, views, now, tenant.id),
            warnings=[v for v in views if v.warning],
            traffic=await gateway_traffic(db, now=now, tenant_id=tenant.id),
            month=await tenant_month(db, tenant.id, now),
        )
