"""What every spend ledger offers (in one process, in PostgreSQL, in Redis) and the values it trades in.

A budget is a key lineage's or a tenant's limit in one period. `reserve` holds an amount against one
or more budgets at once, all or nothing, and refuses with OverBudget when spent + reserved + amount
would pass any limit; `settle` turns a reservation into spend (the actual cost, never more than was
reserved) and releases the rest; a reservation that is never settled (a worker died) expires.
`record` adds spend that was not reserved (usage a service reports). `spent` is what the resolve API
and the pages read: settled spend in the budget's period."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from portal.apikeys.periods import period_bounds
from portal.db.models.apikeys import ResetPeriod

RESERVATION_TTL_S = 600.0  # longer than any request may take (timeouts are far shorter)


@dataclass(frozen=True, slots=True)
class Budget:
    name: str  # "key:{lineage id}" or "tenant:{tenant id}"
    period: str  # the period's start, ISO 8601 ("1970-01-01T00:00:00+00:00" for no reset)
    start: datetime
    end: datetime | None
    limit_micros: int | None  # None: spend is tracked, never refused

    @property
    def ledger_id(self) -> str:
        return f"{self.name}@{self.period}"

    @classmethod
    def of_key(
        cls, lineage_id: uuid.UUID, limit_micros: int | None, reset_period: str, now: datetime
    ) -> Budget:
        start, end = period_bounds(reset_period, now)
        return cls(f"key:{lineage_id}", start.isoformat(), start, end, limit_micros)

    @classmethod
    def of_tenant(cls, tenant_id: uuid.UUID, monthly_limit_micros: int | None, now: datetime) -> Budget:
        start, end = period_bounds(ResetPeriod.MONTHLY, now)
        return cls(f"tenant:{tenant_id}", start.isoformat(), start, end, monthly_limit_micros)


@dataclass(frozen=True, slots=True)
class Reservation:
    id: uuid.UUID
    budgets: tuple[Budget, ...]
    amount_micros: int
    expires_at: datetime


class OverBudget(Exception):
    """The amount does not fit in this budget: what was spent and reserved, and what was asked."""

    def __init__(self, budget: Budget, spent_micros: int, reserved_micros: int, asked_micros: int) -> None:
        super().__init__(f"{budget.name}: {spent_micros} spent + {reserved_micros} reserved + {asked_micros}")
        self.budget = budget
        self.spent_micros = spent_micros
        self.reserved_micros = reserved_micros
        self.asked_micros = asked_micros


def in_order(budgets: Sequence[Budget]) -> tuple[Budget, ...]:
    """Each budget once, in one fixed order (every ledger locks and touches them in this order)."""
    return tuple(sorted({b.ledger_id: b for b in budgets}.values(), key=lambda b: b.ledger_id))


def checked_amount(amount_micros: int) -> int:
    if isinstance(amount_micros, bool) or not isinstance(amount_micros, int) or amount_micros < 0:
        raise ValueError(f"an amount is a whole number of micro-USD, 0 or more (got {amount_micros!r})")
    return amount_micros


class Ledger(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> Reservation:
        """Hold amount_micros against every budget, atomically; OverBudget when any would pass its limit."""
        ...

    async def settle(self, reservation: Reservation, actual_micros: int) -> int:
        """Spend min(actual, reserved) and release the rest; the amount spent. Idempotent per reservation."""
        ...

    async def record(self, budgets: Sequence[Budget], amount_micros: int) -> None:
        """Spend that was not reserved (a service's own report): added whatever the limit."""
        ...

    async def spent(self, budget: Budget) -> int:
        """Settled spend of the budget in its period."""
        ...
