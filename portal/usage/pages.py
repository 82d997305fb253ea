"""The tenant's usage page: spend per day as a chart, each key's share of its limit, forecasts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys import services as keys
from portal.apikeys.deps import BY_SLUG
from portal.db.models import Tenant
from portal.usage import services
from portal.usage.charts import daily_spend_chart
from portal.web.guards import requires_tenant_member
from portal.web.templating import render


class UsagePages(Controller):
    path = "/t/{slug:str}/usage"
    guards = [requires_tenant_member]
    dependencies = BY_SLUG
    include_in_schema = False

    @get("/")
    async def index(
        self, request: Request[Any, Any, Any], db: AsyncSession, tenant: Tenant, now: datetime
    ) -> Response[Any]:
        series = await services.daily_series(db, now=now, days=30, tenant_id=tenant.id)
        views = [
            v for v in await keys.list_keys(db, tenant, now=now) if v.state not in {"revoked", "replaced"}
        ]
        forecasts = await services.forecasts(db, views, now, tenant.id)
        context = {
            "tenant": tenant,
            "tab": "usage",
            "chart": daily_spend_chart(series, title=f"Daily spend of {tenant.name}, last 30 days (UTC)"),
            "series": series,
            "total": sum(p.cost_micros for p in series),
            "requests": sum(p.requests for p in series),
            "forecasts": forecasts,
            "warnings": [v for v in views if v.warning],
        }
        return render(request, "usage/index.html", context)
