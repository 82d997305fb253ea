"""The spend ledger in PostgreSQL (no Redis): tables spend_ledgers and spend_reservations
(portal.db.models.budgets), shared by every process on the database.

Atomic through PostgreSQL's row locks: a reservation is one transaction of one conditional
`UPDATE … SET reserved = reserved + amount WHERE spent + reserved + amount <= limit` per budget (a
concurrent transaction on the same row waits, then re-checks the condition against the row as the
other left it) and the insert of the reservation row; if any budget does not match, the whole
transaction rolls back. Every transaction touches ledger rows in one order (budget, period), so two
never wait on each other in a circle. A reservation row whose worker died is released by the sweeper
(DELETE … RETURNING: each row is released once, whichever process gets it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from portal.apikeys.periods import Clock
from portal.budgets.background import SWEEP_EVERY_S, Every, sweep_all
from portal.budgets.ledger import (
    RESERVATION_TTL_S,
    Budget,
    OverBudget,
    Reservation,
    checked_amount,
    in_order,
)
from portal.budgets.settled import settled_query
from portal.db.base import utcnow
from portal.db.models.budgets import SpendLedger, SpendReservation

SWEEP_BATCH = 1000
MAX_KNOWN = 200_000


class DatabaseLedger:
    def __init__(
        self, engine: AsyncEngine, *, clock: Clock = utcnow, ttl_s: float = RESERVATION_TTL_S
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_s)
        self._known: set[str] = set()  # ledger rows this process knows exist (none is ever deleted)
        self._sweeper = Every(SWEEP_EVERY_S, lambda: sweep_all(self.sweep, SWEEP_BATCH), "budgets-sweep")

    async def start(self) -> None:
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def reserve(self, budgets: Sequence[Budget], amount_micros: int) -> Reservation:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        await self._ensure(budgets)
        try:
            return await self._reserve(budgets, amount)
        except OverBudget:
            if not await self.sweep():  # expired reservations may be holding what is asked
                raise
            return await self._reserve(budgets, amount)

    async def _reserve(self, budgets: tuple[Budget, ...], amount: int) -> Reservation:
        reservation = Reservation(uuid.uuid4(), budgets, amount, self.clock() + self.ttl)
        async with self.engine.begin() as conn:  # any OverBudget rolls back what was held before it
            for budget in budgets:
                held = (
                    update(SpendLedger)
                    .where(*_row(budget))
                    .values(reserved_micros=SpendLedger.reserved_micros + amount)
                )
                if budget.limit_micros is not None:
                    held = held.where(
                        SpendLedger.spent_micros + SpendLedger.reserved_micros + amount <= budget.limit_micros
                    )
                if (await conn.execute(held)).rowcount != 1:
                    spent, reserved = (
                        await conn.execute(
                            select(SpendLedger.spent_micros, SpendLedger.reserved_micros).where(*_row(budget))
                        )
                    ).one()
                    raise OverBudget(budget, spent, reserved, amount)
            await conn.execute(
                insert(SpendReservation).values(
                    id=reservation.id,
                    ledgers=[b.ledger_id for b in budgets],
                    amount_micros=amount,
                    expires_at=reservation.expires_at,
                )
            )
        return reservation

    async def settle(self, reservation: Reservation, actual_micros: int) -> int:
        spend = min(max(0, actual_micros), reservation.amount_micros)
        budgets = in_order(reservation.budgets)
        async with self.engine.begin() as conn:
            held = await conn.scalar(
                delete(SpendReservation)
                .where(SpendReservation.id == reservation.id)
                .returning(SpendReservation.amount_micros)
            )
            if held is None and self.clock() < reservation.expires_at:
                return 0  # settled already
            release = 0 if held is None else held  # gone past its expiry: released, the spend is left
            for budget in budgets:
                await conn.execute(
                    update(SpendLedger)
                    .where(*_row(budget))
                    .values(
                        spent_micros=SpendLedger.spent_micros + spend,
                        reserved_micros=SpendLedger.reserved_micros - release,
                    )
                )
        return spend

    async def record(self, budgets: Sequence[Budget], amount_micros: int) -> None:
        amount = checked_amount(amount_micros)
        budgets = in_order(budgets)
        await self._ensure(budgets)
        async with self.engine.begin() as conn:
            for budget in budgets:
                await conn.execute(
                    update(SpendLedger)
                    .where(*_row(budget))
                    .values(spent_micros=SpendLedger.spent_micros + amount)
                )

    async def spent(self, budget: Budget) -> int:
        await self._ensure((budget,))
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(SpendLedger.spent_micros).where(*_row(budget))) or 0)

    async def sweep(self) -> int:
        """Release what expired reservations hold (dead workers'); how many there were."""
        async with self.engine.begin() as conn:
            expired = (
                select(SpendReservation.id)
                .where(SpendReservation.expires_at <= self.clock())
                .order_by(SpendReservation.expires_at)
                .limit(SWEEP_BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = (
                await conn.execute(
                    delete(SpendReservation)
                    .where(SpendReservation.id.in_(expired.scalar_subquery()))
                    .returning(SpendReservation.ledgers, SpendReservation.amount_micros)
                )
            ).all()
            totals: dict[str, int] = {}
            for ledgers, amount in rows:
                for ledger_id in ledgers:
                    totals[ledger_id] = totals.get(ledger_id, 0) + amount
            for ledger_id in sorted(totals):
                name, _, period = ledger_id.partition("@")
                await conn.execute(
                    update(SpendLedger)
                    .where(SpendLedger.budget == name, SpendLedger.period == period)
                    .values(reserved_micros=SpendLedger.reserved_micros - totals[ledger_id])
                )
        return len(rows)

    async def _ensure(self, budgets: Sequence[Budget]) -> None:
        """Each budget's row, started from its usage events the first time any process uses it."""
        missing = [b for b in budgets if b.ledger_id not in self._known]
        if not missing:
            return
        async with self.engine.begin() as conn:
            for budget in missing:
                await _insert_row(conn, budget)
        if len(self._known) > MAX_KNOWN:
            self._known.clear()
        self._known.update(b.ledger_id for b in missing)


def _row(budget: Budget) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (SpendLedger.budget == budget.name, SpendLedger.period == budget.period)


async def _insert_row(conn: AsyncConnection, budget: Budget) -> None:
    settled = settled_query(budget).scalar_subquery()
    await conn.execute(
        insert(SpendLedger)
        .from_select(
            ["budget", "period", "spent_micros", "reserved_micros"],
            select(literal(budget.name), literal(budget.period), settled, literal(0)),
        )
        .on_conflict_do_nothing()
    )
