from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey, utcnow

BUILTIN_OWNER = "builtin"


class Provider(UUIDPrimaryKey, Timestamps, Base):
    """A built-in provider (from the shipped catalogue) or a tenant's custom one."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("owner", "name"),)

    name: Mapped[str] = mapped_column(String(63))
    display_name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str | None] = mapped_column(String(500), default=None)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), default=None, index=True
    )
    # "builtin" or the owning tenant's id: a non-null column so uniqueness works everywhere.
    owner: Mapped[str] = mapped_column(String(36), default=BUILTIN_OWNER)

    models: Mapped[list[Model]] = relationship(
        back_populates="provider",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Model.name",
    )

    @property
    def is_builtin(self) -> bool:
        return self.tenant_id is None


class Model(UUIDPrimaryKey, Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("provider_id", "name"),
        CheckConstraint("input_price_micros is null or input_price_micros >= 0", name="input_price"),
        CheckConstraint("output_price_micros is null or output_price_micros >= 0", name="output_price"),
        CheckConstraint("max_output_tokens is null or max_output_tokens > 0", name="max_output"),
    )

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Prices in millionths of a US dollar per million tokens (USD 0.15 per million = 150_000);
    # null: not priced (a key with a spend limit cannot use it through the gateway).
    input_price_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    output_price_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The most output tokens one answer can have: a request without max_tokens reserves this.
    max_output_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    # Set when an admin edited the prices: the catalogue sync no longer overwrites them.
    prices_edited_at: Mapped[datetime | None] = mapped_column(default=None)

    provider: Mapped[Provider] = relationship(back_populates="models")


class TenantModel(Base):
    """A model this tenant has enabled (a row means enabled)."""

    __tablename__ = "tenant_models"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    enabled_at: Mapped[datetime] = mapped_column(default=utcnow)


class CatalogRemoval(Base):
    """A built-in provider ('' model) or model an admin removed: the start-up sync keeps it out."""

    __tablename__ = "catalog_removals"

    provider_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True, default="")
    removed_at: Mapped[datetime] = mapped_column(default=utcnow)
