"""JSON API: a tenant's issued API keys, their plans and usage (for people and the platform key)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.params import FromQuery, JSONBody, Parameter, QueryParameter

from portal.apikeys import services, spend
from portal.apikeys.deps import COMMON, Now, PathKey
from portal.apikeys.money import micros_to_usd
from portal.apikeys.plans import list_plans, save_plans
from portal.apikeys.queries import KeyFilter, list_keys, view_of, views_of
from portal.apikeys.refusals import NO_STORE
from portal.apikeys.rules import KeyView
from portal.apikeys.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyUpdate,
    IncreaseLimitIn,
    PlanIn,
    PlanOut,
    RevokeOlderIn,
    RotateIn,
)
from portal.tenants.deps import API, ApiCtx
from portal.web.guards import ADMIN, requires_tenant_member
from portal.web.openapi import CHANGE, READ


def _created(view: KeyView, secret: str) -> Response[ApiKeyCreated]:
    out = ApiKeyCreated(
        **{f: getattr(ApiKeyOut.of(view), f) for f in ApiKeyOut.__struct_fields__}, key=secret
    )
    return Response(out, status_code=201, headers=NO_STORE)


class ApiKeysApi(Controller):
    path = "/api/portal/tenants/{tenant_id:str}"
    tags = ["api-keys"]
    guards = [requires_tenant_member]
    dependencies = {**COMMON, **API}

    @get("/api-keys", responses=READ)
    async def list_keys(
        self,
        ctx: ApiCtx,
        now: Now,
        name: FromQuery[str] = "",
        state_filter: Annotated[str, QueryParameter(name="state")] = "",
        metadata: list[str] | None = Parameter(
            default=None, description="key=value pairs the key's metadata must hold, e.g. env=prod"
        ),
    ) -> list[ApiKeyOut]:
        filters = KeyFilter.of(name, state_filter, metadata or [])
        return [ApiKeyOut.of(v) for v in await list_keys(ctx.db, ctx.tenant, now=now, filters=filters)]

    @post("/api-keys", guards=ADMIN, responses=CHANGE)
    async def create_key(
        self, ctx: ApiCtx, now: Now, data: JSONBody[ApiKeyCreate]
    ) -> Response[ApiKeyCreated]:
        key, secret = await services.create_key(
            ctx.db, ctx.settings, ctx.actor, ctx.tenant, now=now, **data.terms()
        )
        return _created(await view_of(ctx.db, key, now), secret)

    @post("/api-keys/revoke-older", guards=ADMIN, status_code=200, responses=CHANGE)
    async def revoke_older(self, ctx: ApiCtx, now: Now, data: JSONBody[RevokeOlderIn]) -> list[ApiKeyOut]:
        keys = await services.revoke_older_than(
            ctx.db, ctx.actor, data.older_than, tenant=ctx.tenant, now=now
        )
        return [ApiKeyOut.of(v) for v in await views_of(ctx.db, keys, now, ctx.tenant.id)]

    @get("/api-keys/{key_id:str}", responses=READ)
    async def get_key(self, ctx: ApiCtx, now: Now, key: PathKey) -> ApiKeyOut:
        return ApiKeyOut.of(await view_of(ctx.db, key, now))

    @patch("/api-keys/{key_id:str}", guards=ADMIN, responses=CHANGE)
    async def update_key(
        self, ctx: ApiCtx, now: Now, key: PathKey, data: JSONBody[ApiKeyUpdate]
    ) -> ApiKeyOut:
        key = await services.update_key(ctx.db, ctx.actor, ctx.tenant, key, data.changes(), now=now)
        return ApiKeyOut.of(await view_of(ctx.db, key, now))

    @delete("/api-keys/{key_id:str}", guards=ADMIN, responses=CHANGE)
    async def revoke_key(self, ctx: ApiCtx, now: Now, key: PathKey) -> None:
        await services.revoke_key(ctx.db, ctx.actor, key, now=now)

    @post("/api-keys/{key_id:str}/rotate", guards=ADMIN, responses=CHANGE)
    async def rotate_key(
        self, ctx: ApiCtx, now: Now, key: PathKey, data: JSONBody[RotateIn | None] = None
    ) -> Response[ApiKeyCreated]:
        grace = (data or RotateIn()).grace
        new, secret = await services.rotate_key(
            ctx.db, ctx.settings, ctx.actor, ctx.tenant, key, grace, now=now
        )
        return _created(await view_of(ctx.db, new, now), secret)

    @post("/api-keys/{key_id:str}/increase-limit", guards=ADMIN, status_code=200, responses=CHANGE)
    async def increase_limit(
        self, ctx: ApiCtx, now: Now, key: PathKey, data: JSONBody[IncreaseLimitIn]
    ) -> ApiKeyOut:
        key = await services.increase_limit(ctx.db, ctx.actor, key, data.amount_usd, now=now)
        return ApiKeyOut.of(await view_of(ctx.db, key, now))

    @get("/api-keys/{key_id:str}/usage", responses=READ)
    async def key_usage(
        self, ctx: ApiCtx, now: Now, key: PathKey, days: int = Parameter(default=30, ge=1, le=366)
    ) -> dict[str, Any]:
        db, tenant_id = ctx.db, ctx.tenant.id
        view = await view_of(db, key, now)
        series = await spend.daily_series(
            db, now=now, days=days, tenant_id=tenant_id, lineage_id=key.lineage_id
        )
        forecast = (await spend.forecasts(db, [view], now, tenant_id))[0]
        return {
            "key": ApiKeyOut.of(view),
            "days": [_day(p) for p in series],
            "forecast": {"reaches_limit_at": forecast.reaches_at, "note": forecast.note},
        }

    @get("/usage", responses=READ)
    async def tenant_usage(
        self, ctx: ApiCtx, now: Now, days: int = Parameter(default=30, ge=1, le=366)
    ) -> dict[str, Any]:
        series = await spend.daily_series(ctx.db, now=now, days=days, tenant_id=ctx.tenant.id)
        views = await list_keys(ctx.db, ctx.tenant, now=now)
        return {
            "days": [_day(p) for p in series],
            "keys": [
                {
                    "id": v.key.id,
                    "name": v.key.name,
                    "display": v.display,
                    "state": v.state,
                    "spent_usd": v.spent_micros / 1e6,
                    "limit_usd": micros_to_usd(v.key.limit_micros),
                    "share": v.share,
                    "warning": v.warning,
                }
                for v in views
            ],
        }

    @get("/api-key-plans", responses=READ)
    async def list_plans(self, ctx: ApiCtx) -> list[PlanOut]:
        return [PlanOut.of(p) for p in await list_plans(ctx.db, ctx.tenant)]

    @put("/api-key-plans", guards=ADMIN, responses=CHANGE)
    async def save_plans(self, ctx: ApiCtx, data: JSONBody[dict[str, PlanIn]]) -> list[PlanOut]:
        plans = {name: (plan.limit_usd, plan.reset_period) for name, plan in data.items()}
        return [PlanOut.of(p) for p in await save_plans(ctx.db, ctx.actor, ctx.tenant, plans)]


def _day(point: spend.DayPoint) -> dict[str, Any]:
    return {
        "date": point.day.isoformat(),
        "cost_usd": point.cost_micros / 1e6,
        "requests": point.requests,
        "input_tokens": point.input_tokens,
        "output_tokens": point.output_tokens,
    }
