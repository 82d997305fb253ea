"""What a gateway request may cost at most, what it cost, and its one settlement.

Before forwarding, the worst case is reserved against the key's and the tenant's budgets at once:
the prompt's tokens bounded by the request body's size in bytes (a token is at least one byte of
UTF-8, and the body holds the messages, tools and every other input the model reads; tiktoken
cannot be used here), plus the output cap (`max_completion_tokens` or `max_tokens`, else the
model's `max_output_tokens`, else DEFAULT_OUTPUT_CAP, which is then sent upstream so the provider
cannot answer longer than was reserved) times `n`, at the model's prices. After the answer the
reservation settles to the cost of the `usage` the provider reported (the ledger never spends more
than was reserved); an answer without usage, or a client that went away, is charged its
reservation and marked estimated; a failure settles to nothing. Exactly once, whatever happens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from portal.apikeys.entries import Caller, KeyEntry, Target
from portal.budgets.ledger import Budget, Ledger, OverBudget, Reservation
from portal.db.models.apikeys import UsageSource
from portal.gateway.errors import GatewayError

DEFAULT_OUTPUT_CAP = 4096  # tokens, when neither the request nor the model names a maximum
MAX_CHOICES = 128  # `n` above this is refused (OpenAI's own maximum)
log = logging.getLogger("portal.gateway")
CLIENT_CLOSED = 499  # the status recorded when the client went away before the answer was complete


class EventSink(Protocol):
    """Where usage events go, off the request path (portal.usage.recorder's batch writer)."""

    def add(self, values: dict[str, Any]) -> None: ...


class TokenCounter(Protocol):
    """Counts a key's tokens per minute (portal.gateway.rate_limits.RateLimits)."""

    async def count_tokens(self, key: KeyEntry, actual_tokens: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int

    @classmethod
    def of(cls, raw: Any) -> Usage | None:
        """The answer's `usage` object, or None when it is missing or not numbers."""
        if not isinstance(raw, dict):
            return None
        prompt = _count(raw.get("prompt_tokens"))
        completion = _count(raw.get("completion_tokens", 0))
        return None if prompt is None or completion is None else cls(prompt, completion)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


@dataclass(frozen=True, slots=True)
class WorstCase:
    input_tokens: int
    output_tokens: int
    cap_to_send: int | None  # the output cap to set upstream (the client named none)
    micros: int


def worst_case(
    target: Target, body_size: int, requested_cap: int | None, choices: int, *, chat: bool
) -> WorstCase:
    """The most the request can cost (see the module's docstring)."""
    prices = target.model.prices
    if not chat:
        return WorstCase(body_size, 0, None, prices.cost_micros(body_size, 0))
    model_cap = prices.max_output_tokens
    cap_to_send = None
    if requested_cap is not None:
        cap = min(requested_cap, model_cap) if model_cap else requested_cap
    else:
        cap = model_cap or DEFAULT_OUTPUT_CAP
        cap_to_send = cap
    output = cap * choices
    return WorstCase(body_size, output, cap_to_send, prices.cost_micros(body_size, output))


def budgets_of(caller: Caller, now: Any) -> list[Budget]:
    key, tenant = caller.key, caller.tenant
    return [
        Budget.of_key(key.lineage_id, key.limit_micros, key.reset_period, now),
        Budget.of_tenant(tenant.id, tenant.monthly_limit_micros, now),
    ]


def refuse_unpriced(caller: Caller, target: Target) -> None:
    """A spend limit cannot hold for a model whose cost is unknown."""
    if target.model.prices.priced:
        return
    if caller.key.limit_micros is not None or caller.tenant.monthly_limit_micros is not None:
        whose = "this API key" if caller.key.limit_micros is not None else "the tenant"
        raise GatewayError(
            "model_unpriced",
            f"{target.provider.name}/{target.model.name} has no prices, and {whose} has a spend limit: "
            "an admin must set the model's prices first",
            param="model",
        )


async def reserve(ledger: Ledger, budgets: list[Budget], micros: int) -> Reservation | None:
    """Hold the worst case; 402 `limit_reached` when it does not fit. Nothing to hold: None."""
    if micros <= 0:
        return None
    try:
        return await ledger.reserve(budgets, micros)
    except OverBudget as over:
        budget = over.budget
        whose = "this API key" if budget.name.startswith("key:") else "the tenant"
        left = max(0, (budget.limit_micros or 0) - over.spent_micros - over.reserved_micros)
        resets = f"; it resets at {budget.end.isoformat()}" if budget.end else ""
        raise GatewayError(
            "limit_reached",
            f"the spend limit of {whose} does not fit this request: it may cost up to "
            f"{over.asked_micros / 1e6:.6f} USD and {left / 1e6:.6f} USD is left{resets}; "
            "ask for fewer output tokens (max_tokens) or a shorter prompt",
        ) from None


class Meter:
    """One request's settlement and usage event: `finish` runs once, and always completes (shielded
    from the cancellation of a client that went away)."""

    def __init__(
        self,
        ledger: Ledger,
        sink: EventSink,
        tokens: TokenCounter | None,
        caller: Caller,
        target: Target,
        *,
        streamed: bool,
        now: Any,
    ) -> None:
        self.ledger, self.sink, self.tokens = ledger, sink, tokens
        self.caller, self.target = caller, target
        self.reservation: Reservation | None = None
        self.streamed = streamed
        self.now = now
        self.started = time.perf_counter()
        self._done: asyncio.Task[None] | None = None

    async def finish(
        self, status: int, usage: Usage | None = None, *, charge_reservation: bool = False
    ) -> None:
        """Settle and record: the usage's cost; the reservation when asked (no usage, client gone);
        else nothing (a failure). Later calls wait for the first."""
        if self._done is None:
            self._done = asyncio.ensure_future(self._finish(status, usage, charge_reservation))
        await asyncio.shield(self._done)

    async def _finish(self, status: int, usage: Usage | None, charge_reservation: bool) -> None:
        latency_ms = int((time.perf_counter() - self.started) * 1000)
        reserved = self.reservation.amount_micros if self.reservation is not None else 0
        estimated = usage is None and charge_reservation
        if usage is not None:
            cost = self.target.model.prices.cost_micros(usage.input_tokens, usage.output_tokens)
        else:
            cost = reserved if charge_reservation else 0
        spent = cost
        if self.reservation is not None:
            try:
                spent = await self.ledger.settle(self.reservation, cost)
            except Exception:  # the ledger is unreachable: the reservation expires on its own
                log.exception("settling a gateway reservation failed; it will expire")
        key = self.caller.key
        self.sink.add(
            {
                "api_key_id": key.id,
                "lineage_id": key.lineage_id,
                "tenant_id": self.caller.tenant.id,
                "provider": self.target.provider.name,
                "model": self.target.model.name,
                "input_tokens": usage.input_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
                "cost_micros": spent,
                "occurred_at": self.now,
                "source": UsageSource.GATEWAY,
                "status_code": status,
                "latency_ms": latency_ms,
                "streamed": self.streamed,
                "estimated": estimated,
            }
        )
        if usage is not None and self.tokens is not None:
            await self.tokens.count_tokens(self.caller.key, usage.input_tokens + usage.output_tokens)
