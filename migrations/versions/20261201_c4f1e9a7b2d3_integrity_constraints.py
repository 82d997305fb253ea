"""Integrity: one replacement per rotated key, usage idempotency per key lineage, provider length (2026-12-01)."""

import sqlalchemy as sa
from alembic import op

revision = "c4f1e9a7b2d3"
down_revision = "eef5a792fa8e"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.create_unique_constraint(op.f("uq_api_keys_rotated_from_id"), ["rotated_from_id"])
    with op.batch_alter_table("usage_events") as batch:
        batch.drop_constraint("uq_usage_events_api_key_id_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_usage_events_lineage_id_idempotency_key"), ["lineage_id", "idempotency_key"]
        )
        batch.alter_column("provider", existing_type=sa.String(length=63), type_=sa.String(length=200))


def downgrade() -> None:
    with op.batch_alter_table("usage_events") as batch:
        batch.alter_column("provider", existing_type=sa.String(length=200), type_=sa.String(length=63))
        batch.drop_constraint("uq_usage_events_lineage_id_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            op.f("uq_usage_events_api_key_id_idempotency_key"), ["api_key_id", "idempotency_key"]
        )
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint("uq_api_keys_rotated_from_id", type_="unique")
