"""The spend ledger kept in the database (PostgreSQL without Redis): per budget and period, what was
spent and what open reservations hold, and the reservations themselves so a dead worker's expire.
With Redis the same figures live in Redis; on SQLite in the one process (portal.budgets)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, UUIDPrimaryKey


class SpendLedger(Base):
    """One budget ("key:{lineage id}" or "tenant:{tenant id}") in one period (its start, ISO)."""

    __tablename__ = "spend_ledgers"
    __table_args__ = (
        CheckConstraint("spent_micros >= 0", name="spent"),
        CheckConstraint("reserved_micros >= 0", name="reserved"),
    )

    budget: Mapped[str] = mapped_column(String(80), primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_micros: Mapped[int] = mapped_column(BigInteger, default=0)


class SpendReservation(UUIDPrimaryKey, Base):
    """An open reservation against one or more ledgers ("budget@period" each) until it expires."""

    __tablename__ = "spend_reservations"
    __table_args__ = (CheckConstraint("amount_micros >= 0", name="amount"),)

    ledgers: Mapped[list[str]]
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(index=True)


__all__ = ["SpendLedger", "SpendReservation"]
