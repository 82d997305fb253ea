"""Who may come in: memberships, federated identities, invitations, each tenant's identity provider."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db.base import Base, Timestamps, UUIDPrimaryKey, utcnow
from portal.db.models.tenants import Tenant
from portal.db.models.users import User


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("role in ('admin', 'member')", name="role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
    tenant: Mapped[Tenant] = relationship(lazy="joined")


class Identity(UUIDPrimaryKey, Base):
    """A person as an identity provider knows them: (issuer, subject), never the e-mail alone."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    email_at_link: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)


class Invitation(UUIDPrimaryKey, Base):
    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint("role in ('admin', 'member')", name="role"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class IdentityProvider(UUIDPrimaryKey, Timestamps, Base):
    """A tenant's OIDC provider. The client secret is sealed like every other secret."""

    __tablename__ = "identity_providers"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # {"client_secret": "v1:..."}; opened only to exchange a code.
    sealed_fields: Mapped[dict[str, Any]]
    secret_hint: Mapped[str] = mapped_column(String(16), default="...")
    scopes: Mapped[str] = mapped_column(String(500), default="openid profile email")
    allowed_domains: Mapped[list[str]] = mapped_column(default=list)
    # e.g. {"claim": "groups", "admin_values": ["portal-admins"]}: who becomes a tenant admin.
    role_mapping: Mapped[dict[str, Any]]
    jit_provisioning: Mapped[bool] = mapped_column(default=False)
    # The provider's e-mails count as verified even without an email_verified claim (Entra ID sends none).
    emails_verified: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    frontend_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # A label for people and Eneo's scripts (e.g. entra_id, okta); nothing depends on it.
    provider: Mapped[str | None] = mapped_column(String(100), default=None)
    # Set only where the provider has a different registered redirect URI than PUBLIC_URL/auth/callback.
    redirect_url: Mapped[str | None] = mapped_column(String(500), default=None)
    last_discovery_at: Mapped[datetime | None] = mapped_column(default=None)
    last_discovery_ok: Mapped[bool | None] = mapped_column(default=None)
    last_discovery_detail: Mapped[str | None] = mapped_column(String(500), default=None)
