from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db.base import Base, Timestamps, UUIDPrimaryKey


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Second factor (platform admins): the TOTP secret wrapped by the master keyring and bound to
    # this user; the last accepted time step (a code is accepted once); recovery codes as keyed hashes.
    totp_secret_wrapped: Mapped[str | None] = mapped_column(String(500), default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(default=None)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(default=list)
    # Sessions authenticated before this moment are over (password or second-factor reset, removal).
    sessions_not_before: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enabled_at is not None and self.totp_secret_wrapped is not None
