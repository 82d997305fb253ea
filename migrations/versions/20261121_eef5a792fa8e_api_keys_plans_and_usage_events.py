"""api keys, plans and usage events (2026-11-21)."""

import sqlalchemy as sa
from alembic import op

from portal.db.ddl import cascade_fk, id_and_timestamps, json_column, utc

revision = "eef5a792fa8e"
down_revision = "8257a2976e97"


def upgrade() -> None:
    op.create_table(
        "api_key_plans",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("limit_micros", sa.BigInteger(), nullable=False),
        sa.Column("reset_period", sa.String(length=16), nullable=False),
        utc("updated_at"),
        sa.CheckConstraint(
            "reset_period in ('none', 'daily', 'weekly', 'monthly')",
            name=op.f("ck_api_key_plans_reset_period"),
        ),
        cascade_fk("api_key_plans", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "name", name=op.f("pk_api_key_plans")),
    )
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=80), nullable=False),
        sa.Column("last_four", sa.String(length=4), nullable=False),
        json_column("scopes"),
        json_column("allowed_models"),
        sa.Column("limit_micros", sa.BigInteger(), nullable=True),
        sa.Column("reset_period", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=True),
        utc("expires_at", nullable=True),
        json_column("metadata"),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        utc("revoked_at", nullable=True),
        sa.Column("revoked_by", sa.String(length=320), nullable=True),
        sa.Column("lineage_id", sa.Uuid(), nullable=False),
        sa.Column("rotated_from_id", sa.Uuid(), nullable=True),
        sa.Column("replaced_by_id", sa.Uuid(), nullable=True),
        utc("grace_ends_at", nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        utc("warned_for", nullable=True),
        utc("exhausted_for", nullable=True),
        *id_and_timestamps(),
        sa.CheckConstraint(
            "reset_period in ('none', 'daily', 'weekly', 'monthly')", name=op.f("ck_api_keys_reset_period")
        ),
        sa.CheckConstraint(
            "limit_micros is null or limit_micros > 0", name=op.f("ck_api_keys_limit_positive")
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by_id"],
            ["api_keys.id"],
            name=op.f("fk_api_keys_replaced_by_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rotated_from_id"],
            ["api_keys.id"],
            name=op.f("fk_api_keys_rotated_from_id_api_keys"),
            ondelete="SET NULL",
        ),
        cascade_fk("api_keys", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_lineage_id"), ["lineage_id"], unique=False)
        batch_op.create_index("ix_api_keys_tenant_created", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "usage_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("api_key_id", sa.Uuid(), nullable=False),
        sa.Column("lineage_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        utc("occurred_at"),
        cascade_fk("usage_events", "api_key_id", "api_keys"),
        cascade_fk("usage_events", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint(
            "api_key_id", "idempotency_key", name=op.f("uq_usage_events_api_key_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index("ix_usage_events_key_at", ["api_key_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_usage_events_lineage_at", ["lineage_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_usage_events_tenant_at", ["tenant_id", "occurred_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_events_tenant_at")
        batch_op.drop_index("ix_usage_events_lineage_at")
        batch_op.drop_index("ix_usage_events_key_at")

    op.drop_table("usage_events")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_api_keys_tenant_created")
        batch_op.drop_index(batch_op.f("ix_api_keys_lineage_id"))

    op.drop_table("api_keys")
    op.drop_table("api_key_plans")
