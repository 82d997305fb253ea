"""The spend ledger of one process (SQLite, one worker): every figure in this process's memory.

Atomic because asyncio runs one task at a time: `reserve` first awaits whatever it must load, then
checks every budget and adds to every budget with no `await` in between, so no other request can
slip between the check and the add. A budget's settled spend is read from the usage events the
first time the budget is used in a period; from then on this ledger counts. Open reservations that
are never settled expire after RESERVATION_TTL_S and give their amount back."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portal.apikeys.periods import Clock
from portal.budgets.background import SWEEP_EVERY_S, Every
from portal.budgets.ledger import (
    RESERVATION_TTL_S,
    Budget,
    OverBudget,
    Reservation,
    checked_amount,
    in_order,
)
from portal.budgets.settled import load_settled
from portal.db.base import utcnow

MAX_TOGETHER = 200_000
ENDED_KEPT = timedelta(days=1)  # an ended period's figures stay this long (late settles land there)


@dataclass(slots=True)
class _Account:
    budget: Budget
    spent: int
    reserved: int = 0


class MemoryLedger:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
        ttl_s: float = RESERVATION_TTL_S,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self._accounts: dict[str, _Account] = {}
        self._loading: dict[str, asyncio.Future[int]] = {}
        self._open: dict[uuid.UUID, Reservation] = {}
        self._expiries: list[tuple[datetime, uuid.UUID]] = []  # a heap: the next to expire first
        self._sweeper = Every(SWEEP_EVERY_S, self._tidy, "budgets-sweep")
        self._together: dict[str, set[str]] = {}  # budget name -> names used with it (key -> tenant)
        self._stale: set[str] = set()
        self._reconciling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()
        if self._reconciling is not None:
            self._reconciling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciling
            self._reconciling = None

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> Reservation:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        accounts = await self._accounts_of(budgets)
        self._remember_together(budgets)
        # From here on no await: the check and the add are one step for every other task.
        self.sweep()
        for budget, account in zip(budgets, accounts, strict=True):
            if budget.limit_micros is not None and (
                account.spent + account.reserved + amount > budget.limit_micros
            ):
                raise OverBudget(budget, account.spent, account.reserved, amount)
        for account in accounts:
            account.reserved += amount
        reservation = Reservation(uuid.uuid4(), budgets, amount, self.clock() + self.ttl)
        self._open[reservation.id] = reservation
        heapq.heappush(self._expiries, (reservation.expires_at, reservation.id))
        return reservation

    async def settle(self, reservation: Reservation, actual_micros: int) -> int:
        spend = min(max(0, actual_micros), reservation.amount_micros)
        held = self._open.pop(reservation.id, None)
        if held is None:
            if self.clock() < reservation.expires_at:
                return 0  # settled already
            # It expired and its amount went back: what it cost is still spend.
            await self.record(reservation.budgets, spend)
            return spend
        for budget in held.budgets:
            account = self._accounts.get(budget.ledger_id)  # kept while it holds an amount
            if account is not None:
                account.reserved -= held.amount_micros
                account.spent += spend
        return spend

    async def record(self, budgets: Sequence[Budget], amount_micros: int) -> None:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        for account in await self._accounts_of(budgets):
            account.spent += amount
        self._remember_together(budgets)

    async def spent(self, budget: Budget) -> int:
        (account,) = await self._accounts_of((budget,))
        return account.spent

    def sweep(self) -> int:
        """Give back what expired reservations hold; how many there were."""
        now = self.clock()
        released = 0
        while self._expiries and self._expiries[0][0] <= now:
            _, reservation_id = heapq.heappop(self._expiries)
            reservation = self._open.pop(reservation_id, None)
            if reservation is None:
                continue  # settled in time
            for budget in reservation.budgets:
                account = self._accounts.get(budget.ledger_id)
                if account is not None:
                    account.reserved -= reservation.amount_micros
            released += 1
        return released

    def forget_ended(self) -> None:
        """Drop the figures of periods that ended a while ago and hold nothing."""
        cutoff = self.clock() - ENDED_KEPT
        for ledger_id, account in list(self._accounts.items()):
            if account.budget.end is not None and account.budget.end < cutoff and account.reserved == 0:
                del self._accounts[ledger_id]
        if len(self._together) > MAX_TOGETHER:
            self._together.clear()

    def usage_seen(self, lineage_id: uuid.UUID) -> None:
        """Usage of this key lineage was committed by another process (a command, a second worker
        on one SQLite file): its budgets, and the tenant's used with them, catch up with the usage
        events soon. Never lowered: what this process counted and has not written yet stays."""
        name = f"key:{lineage_id}"
        self._stale.add(name)
        self._stale.update(self._together.get(name, ()))
        if self._reconciling is None or self._reconciling.done():
            self._reconciling = asyncio.create_task(self._reconcile(), name="budgets-reconcile")

    async def _reconcile(self) -> None:
        while self._stale:
            names, self._stale = self._stale, set()
            for account in [a for a in self._accounts.values() if a.budget.name in names]:
                settled = await load_settled(self.sessions, account.budget)
                account.spent = max(account.spent, settled)

    def _remember_together(self, budgets: Sequence[Budget]) -> None:
        names = {b.name for b in budgets}
        for name in names:
            others = names - {name}
            if others and not others <= self._together.get(name, set()):
                self._together.setdefault(name, set()).update(others)

    async def _accounts_of(self, budgets: Sequence[Budget]) -> list[_Account]:
        """Every budget's account, read from the database on its first use (one load per budget).
        Returned with no await after the last check: all of them are there together."""
        while True:
            missing = next((b for b in budgets if b.ledger_id not in self._accounts), None)
            if missing is None:
                return [self._accounts[b.ledger_id] for b in budgets]
            await self._load(missing)

    async def _load(self, budget: Budget) -> None:
        key = budget.ledger_id
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load_settled(self.sessions, budget))
            self._loading[key] = pending
            pending.add_done_callback(lambda _done: self._loading.pop(key, None))
        spent = await asyncio.shield(pending)
        self._accounts.setdefault(key, _Account(budget, spent))

    async def _tidy(self) -> None:
        self.sweep()
        self.forget_ended()
