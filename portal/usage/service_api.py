"""The service API's usage calls: report usage for the calling key, and read its spend.

`Authorization: Bearer <issued key>` binds the request to the key's tenant; a guard checks the
key's scope. Every answer carries `Cache-Control: no-store`, errors in the service API's shape."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, Parameter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.apikeys.entries import Caller
from portal.apikeys.hotpath import HotPath
from portal.apikeys.money import micros_to_usd
from portal.apikeys.refusals import NO_STORE, Refusal
from portal.apikeys.schemas import UsageIn
from portal.apikeys.service_api import ServiceController, caller_of
from portal.apikeys.spend import daily_series
from portal.errors import Conflict, InvalidInput
from portal.usage import services as usage
from portal.web.deps import Db
from portal.web.guards import requires_service_key
from portal.web.openapi import service_errors


async def _record(
    db: AsyncSession, hotpath: HotPath, caller: Caller, report: usage.UsageReport, key: str | None
) -> tuple[usage.Recorded, int]:
    """Record the report as a usage event, then add its cost to the key's and the tenant's budgets
    in the ledger; what the key has spent in its period after it.

    The event is committed first and the ledger told after, so nothing counts twice: a crash before
    the commit leaves neither (the service's retry with its Idempotency-Key records it once); a crash
    between the two leaves the event without its ledger entry (a ledger that starts the period later
    reads it from the events) and the retry is a duplicate that adds nothing. The budgets are read
    (and so started from the events) before the event is written, or a ledger starting the period
    from the events just after the commit would count this one twice."""
    budgets = hotpath.budgets(caller)
    for budget in budgets:
        await hotpath.ledger.spent(budget)
    try:
        recorded = await usage.record_usage(
            db,
            key_id=caller.key.id,
            lineage_id=caller.key.lineage_id,
            tenant_id=caller.tenant.id,
            limit_micros=caller.key.limit_micros,
            reset_period=caller.key.reset_period,
            label=caller.key.label,
            report=report,
            idempotency_key=key,
            now=hotpath.clock(),
        )
    except InvalidInput as exc:
        raise Refusal("invalid_request", exc.message) from None
    if not recorded.duplicate:
        try:
            await db.commit()
        except IntegrityError as exc:
            await db.rollback()
            raise Conflict("This was changed at the same moment by another request; try again") from exc
        await hotpath.ledger.record(budgets, recorded.event.cost_micros)
    return recorded, await hotpath.ledger.spent(budgets[0])


class UsageServiceApi(ServiceController):
    @post(
        "/usage",
        guards=[requires_service_key("usage:write")],
        summary="Report usage for the calling key",
        description="An `Idempotency-Key` header makes a retried report count once: the retry answers 200 "
        "with `duplicate: true`. `cost` is in USD.",
        responses={
            200: ResponseSpec(
                data_container=dict[str, Any],
                description="A retried report (same Idempotency-Key), counted once: `duplicate` is true",
            ),
            **service_errors(400, 401, 403, 409, 429),
        },
    )
    async def report_usage(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        data: JSONBody[UsageIn],
        idempotency_key: Annotated[str | None, HeaderParameter(name="idempotency-key")] = None,
    ) -> Response[dict[str, Any]]:
        hotpath: HotPath = request.app.state.hotpath
        caller = caller_of(request)
        try:
            report = usage.UsageReport.check(
                data.provider, data.model, data.input_tokens, data.output_tokens, data.cost
            )
        except InvalidInput as exc:
            raise Refusal("invalid_request", exc.message) from None
        recorded, spent = await _record(db, hotpath, caller, report, idempotency_key)
        body = {
            "id": recorded.event.id,
            "duplicate": recorded.duplicate,
            "cost_usd": micros_to_usd(recorded.event.cost_micros),
            "spent_usd": micros_to_usd(spent),
            "limit_usd": micros_to_usd(recorded.limit_micros),
            "period_start": recorded.period_start.isoformat(),
            "period_end": recorded.period_end.isoformat() if recorded.period_end else None,
        }
        return Response(body, status_code=200 if recorded.duplicate else 201, headers=NO_STORE)

    @get(
        "/usage",
        guards=[requires_service_key("usage:read")],
        summary="The calling key's spend in its current period, and per day",
        responses=service_errors(400, 401, 403, 429),
    )
    async def read_usage(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        days: int = Parameter(default=30, ge=1, le=366),
    ) -> Response[dict[str, Any]]:
        hotpath: HotPath = request.app.state.hotpath
        caller = caller_of(request)
        spend = await hotpath.spend(caller.key)
        series = await daily_series(
            db, now=hotpath.clock(), days=days, tenant_id=caller.tenant.id, lineage_id=caller.key.lineage_id
        )
        body = {
            "key": {"id": str(caller.key.id), "name": caller.key.name},
            "spent_usd": micros_to_usd(spend.micros),
            "limit_usd": micros_to_usd(spend.limit_micros),
            "period_start": spend.period_start.isoformat(),
            "period_end": spend.period_end.isoformat() if spend.period_end else None,
            "days": [
                {"date": p.day.isoformat(), "cost_usd": micros_to_usd(p.cost_micros), "requests": p.requests}
                for p in series
            ],
        }
        return Response(body, headers=NO_STORE)
