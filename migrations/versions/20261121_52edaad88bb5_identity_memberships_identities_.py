"""identity: memberships, identities, invitations, identity providers (2026-11-21)."""

import sqlalchemy as sa
from alembic import op

from portal.db.ddl import cascade_fk, create_indexes, drop_indexes, id_and_timestamps, json_column, utc

revision = "52edaad88bb5"
down_revision = "a12d84238ce3"


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email_at_link", sa.String(length=320), nullable=True),
        utc("created_at"),
        utc("last_seen_at", nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        cascade_fk("identities", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_identities_issuer_subject")),
    )
    create_indexes("identities", "user_id")

    op.create_table(
        "identity_providers",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        json_column("sealed_fields"),
        sa.Column("secret_hint", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        json_column("allowed_domains"),
        json_column("role_mapping"),
        sa.Column("jit_provisioning", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("frontend_url", sa.String(length=500), nullable=True),
        utc("last_discovery_at", nullable=True),
        sa.Column("last_discovery_ok", sa.Boolean(), nullable=True),
        sa.Column("last_discovery_detail", sa.String(length=500), nullable=True),
        *id_and_timestamps(),
        cascade_fk("identity_providers", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_identity_providers_tenant_id")),
    )
    op.create_table(
        "invitations",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=320), nullable=False),
        utc("created_at"),
        utc("expires_at"),
        utc("accepted_at", nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        utc("revoked_at", nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("role in ('admin', 'member')", name=op.f("ck_invitations_role")),
        cascade_fk("invitations", "tenant_id", "tenants"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    create_indexes("invitations", "tenant_id")

    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        utc("created_at"),
        sa.CheckConstraint("role in ('admin', 'member')", name=op.f("ck_memberships_role")),
        cascade_fk("memberships", "tenant_id", "tenants"),
        cascade_fk("memberships", "user_id", "users"),
        sa.PrimaryKeyConstraint("user_id", "tenant_id", name=op.f("pk_memberships")),
    )
    create_indexes("memberships", "tenant_id")


def downgrade() -> None:
    drop_indexes("memberships", "tenant_id")

    op.drop_table("memberships")
    drop_indexes("invitations", "tenant_id")

    op.drop_table("invitations")
    op.drop_table("identity_providers")
    drop_indexes("identities", "user_id")

    op.drop_table("identities")
