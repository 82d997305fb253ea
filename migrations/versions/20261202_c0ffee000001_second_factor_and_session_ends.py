"""second factor, session ends, providers' verified e-mails (2026-12-02)."""

import sqlalchemy as sa
from alembic import op

from portal.db.base import JSONType, UTCDateTime
from portal.db.ddl import drop_columns

revision = "c0ffee000001"
down_revision = "c4f1e9a7b2d3"


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret_wrapped", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("totp_enabled_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("recovery_code_hashes", JSONType, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("sessions_not_before", UTCDateTime(), nullable=True))
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("emails_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    drop_columns("identity_providers", "emails_verified")
    drop_columns(
        "users",
        "sessions_not_before",
        "recovery_code_hashes",
        "totp_last_step",
        "totp_enabled_at",
        "totp_secret_wrapped",
    )
