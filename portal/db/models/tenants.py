from __future__ import annotations

from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{1,62}$"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("status in ('active', 'suspended')", name="status"),
        CheckConstraint("monthly_limit_micros is null or monthly_limit_micros > 0", name="monthly_limit"),
    )

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE)
    # Spend limit of the whole tenant per calendar month (UTC), set by a platform admin; null: none.
    monthly_limit_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The tenant's data key, wrapped by the master keyring, and which master key wrapped it.
    wrapped_data_key: Mapped[str] = mapped_column(Text)
    data_key_wrapped_by: Mapped[str] = mapped_column(String(16), index=True)
