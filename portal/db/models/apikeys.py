"""API keys the portal issues to tenants' services, their plans, and the usage they report."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey, utcnow


class ResetPeriod(StrEnum):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Scope(StrEnum):
    INFERENCE = "inference"
    RESOLVE = "resolve"
    USAGE_WRITE = "usage:write"
    USAGE_READ = "usage:read"


class ApiKey(UUIDPrimaryKey, Timestamps, Base):
    """An issued key: only its keyed hash is stored, plus a prefix and last four to recognise it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("reset_period in ('none', 'daily', 'weekly', 'monthly')", name="reset_period"),
        CheckConstraint("limit_micros is null or limit_micros > 0", name="limit_positive"),
        CheckConstraint("rpm_limit is null or rpm_limit > 0", name="rpm_positive"),
        CheckConstraint("tpm_limit is null or tpm_limit > 0", name="tpm_positive"),
        Index("ix_api_keys_tenant_created", "tenant_id", "created_at"),
        # One replacement per rotation: a second, concurrent rotation of the same key cannot insert.
        UniqueConstraint("rotated_from_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(80))
    last_four: Mapped[str] = mapped_column(String(4))
    scopes: Mapped[list[str]]
    # Model names this key may resolve; empty: every model the tenant has enabled.
    allowed_models: Mapped[list[str]]
    # Spend limit in millionths of a US dollar (exact sums on every backend); null: no limit.
    limit_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reset_period: Mapped[str] = mapped_column(String(16), default=ResetPeriod.NONE)
    # Gateway rate limits: requests and tokens per minute; null: none.
    rpm_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    plan: Mapped[str | None] = mapped_column(String(32), default=None)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    key_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")
    disabled: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(320), default=None)
    # A key and its rotations form one lineage: they share one budget.
    lineage_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rotated_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )
    replaced_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )
    # Set on a rotated key: it keeps working until then, then stops by itself.
    grace_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(320))
    # Start of the period for which the 80 % warning / limit-reached event was recorded (once each).
    warned_for: Mapped[datetime | None] = mapped_column(default=None)
    exhausted_for: Mapped[datetime | None] = mapped_column(default=None)


class ApiKeyPlan(Base):
    """A tenant's edited limit preset (free, basic, pro, enterprise); defaults apply where absent."""

    __tablename__ = "api_key_plans"
    __table_args__ = (
        CheckConstraint("reset_period in ('none', 'daily', 'weekly', 'monthly')", name="reset_period"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    limit_micros: Mapped[int] = mapped_column(BigInteger)
    reset_period: Mapped[str] = mapped_column(String(16), default=ResetPeriod.MONTHLY)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UsageSource(StrEnum):
    REPORT = "report"  # a service reported it (POST /api/v1/usage)
    GATEWAY = "gateway"  # the portal's gateway forwarded the request and metered the answer


class UsageEvent(Base):
    """One usage report or one gateway request. An idempotency key makes a retried report count once
    per key lineage (a retry sent with the rotated key's replacement is the same report)."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("lineage_id", "idempotency_key"),
        Index("ix_usage_events_lineage_at", "lineage_id", "occurred_at"),
        Index("ix_usage_events_tenant_at", "tenant_id", "occurred_at"),
        Index("ix_usage_events_key_at", "api_key_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    lineage_id: Mapped[uuid.UUID]
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    # As long as the usage API accepts (portal.usage.services.NAME_MAX).
    provider: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16), default=UsageSource.REPORT, server_default="report")
    # Gateway requests only: the HTTP status answered, the time to the last byte, streamed or not,
    # and whether the cost is the reservation (the provider's answer said no usage).
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    streamed: Mapped[bool] = mapped_column(default=False, server_default=false())
    estimated: Mapped[bool] = mapped_column(default=False, server_default=false())
