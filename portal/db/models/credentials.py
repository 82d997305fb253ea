from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey
from portal.db.models.catalog import Provider


class Credential(UUIDPrimaryKey, Timestamps, Base):
    """A tenant's own (BYO) credential for one provider: sealed secrets plus plain config."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("tenant_id", "provider_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    # field name -> sealed value ("v1:..."); never plaintext.
    sealed_fields: Mapped[dict[str, Any]]
    # Non-secret settings: endpoint, api_version, deployment_name…
    config: Mapped[dict[str, Any]]
    key_hint: Mapped[str] = mapped_column(String(16), default="...")
    set_by: Mapped[str] = mapped_column(String(320))
    last_test_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None)
    last_test_reason: Mapped[str | None] = mapped_column(String(500), default=None)

    provider: Mapped[Provider] = relationship(lazy="joined")
