"""initial schema (2026-11-21)."""

import sqlalchemy as sa
from alembic import op

from portal.db.ddl import cascade_fk, create_indexes, drop_indexes, id_and_timestamps, json_column, utc

revision = "a12d84238ce3"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        utc("at"),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("impersonator", sa.String(length=320), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        json_column("details"),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    create_indexes("audit_events", "action", "at", "tenant_id")

    op.create_table(
        "catalog_removals",
        sa.Column("provider_name", sa.String(length=63), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        utc("removed_at"),
        sa.PrimaryKeyConstraint("provider_name", "model_name", name=op.f("pk_catalog_removals")),
    )
    op.create_table(
        "tenants",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("wrapped_data_key", sa.Text(), nullable=False),
        sa.Column("data_key_wrapped_by", sa.String(length=16), nullable=False),
        *id_and_timestamps(),
        sa.CheckConstraint("status in ('active', 'suspended')", name=op.f("ck_tenants_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    create_indexes("tenants", "data_key_wrapped_by")

    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("is_platform_admin", sa.Boolean(), nullable=False),
        utc("last_login_at", nullable=True),
        *id_and_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "providers",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("owner", sa.String(length=36), nullable=False),
        *id_and_timestamps(),
        cascade_fk("providers", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_providers")),
        sa.UniqueConstraint("owner", "name", name=op.f("uq_providers_owner_name")),
    )
    create_indexes("providers", "tenant_id")

    op.create_table(
        "credentials",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        json_column("sealed_fields"),
        json_column("config"),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.String(length=320), nullable=False),
        utc("last_test_at", nullable=True),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.Column("last_test_reason", sa.String(length=500), nullable=True),
        *id_and_timestamps(),
        cascade_fk("credentials", "provider_id", "providers"),
        cascade_fk("credentials", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("tenant_id", "provider_id", name=op.f("uq_credentials_tenant_id_provider_id")),
    )
    create_indexes("credentials", "provider_id")

    op.create_table(
        "models",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        utc("created_at"),
        sa.Column("id", sa.Uuid(), nullable=False),
        cascade_fk("models", "provider_id", "providers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("provider_id", "name", name=op.f("uq_models_provider_id_name")),
    )
    op.create_table(
        "tenant_models",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=False),
        utc("enabled_at"),
        cascade_fk("tenant_models", "model_id", "models"),
        cascade_fk("tenant_models", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("tenant_id", "model_id", name=op.f("pk_tenant_models")),
    )
    create_indexes("tenant_models", "model_id")


def downgrade() -> None:
    drop_indexes("tenant_models", "model_id")

    op.drop_table("tenant_models")
    op.drop_table("models")
    drop_indexes("credentials", "provider_id")

    op.drop_table("credentials")
    drop_indexes("providers", "tenant_id")

    op.drop_table("providers")
    op.drop_table("users")
    drop_indexes("tenants", "data_key_wrapped_by")

    op.drop_table("tenants")
    op.drop_table("catalog_removals")
    drop_indexes("audit_events", "tenant_id", "at", "action")

    op.drop_table("audit_events")
