"""gateway: model prices, key rate limits, tenant monthly limit, metered usage, spend ledger (2026-12-02)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import portal.db.base
from portal.db.ddl import drop_columns

revision = "9a7e3a1e0001"
down_revision = "e5e0c0de0001"


def upgrade() -> None:
    op.create_table(
        "spend_ledgers",
        sa.Column("budget", sa.String(length=80), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.Column("reserved_micros", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("reserved_micros >= 0", name=op.f("ck_spend_ledgers_reserved")),
        sa.CheckConstraint("spent_micros >= 0", name=op.f("ck_spend_ledgers_spent")),
        sa.PrimaryKeyConstraint("budget", "period", name=op.f("pk_spend_ledgers")),
    )
    op.create_table(
        "spend_reservations",
        sa.Column(
            "ledgers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", portal.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_micros >= 0", name=op.f("ck_spend_reservations_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_reservations")),
    )
    with op.batch_alter_table("spend_reservations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spend_reservations_expires_at"), ["expires_at"], unique=False)

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpm_limit", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tpm_limit", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint("rpm_positive", "rpm_limit is null or rpm_limit > 0")
        batch_op.create_check_constraint("tpm_positive", "tpm_limit is null or tpm_limit > 0")

    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_price_micros", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("output_price_micros", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_output_tokens", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("prices_edited_at", portal.db.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_check_constraint(
            "input_price", "input_price_micros is null or input_price_micros >= 0"
        )
        batch_op.create_check_constraint(
            "output_price", "output_price_micros is null or output_price_micros >= 0"
        )
        batch_op.create_check_constraint("max_output", "max_output_tokens is null or max_output_tokens > 0")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monthly_limit_micros", sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            "monthly_limit", "monthly_limit_micros is null or monthly_limit_micros > 0"
        )

    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), server_default="report", nullable=False)
        )
        batch_op.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("latency_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("streamed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("estimated", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    drop_columns("usage_events", "estimated", "streamed", "latency_ms", "status_code", "source")
    drop_columns("tenants", "monthly_limit_micros", checks=("monthly_limit",))
    drop_columns(
        "models",
        "prices_edited_at",
        "max_output_tokens",
        "output_price_micros",
        "input_price_micros",
        checks=("max_output", "output_price", "input_price"),
    )
    drop_columns("api_keys", "tpm_limit", "rpm_limit", checks=("tpm_positive", "rpm_positive"))

    with op.batch_alter_table("spend_reservations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spend_reservations_expires_at"))

    op.drop_table("spend_reservations")
    op.drop_table("spend_ledgers")
