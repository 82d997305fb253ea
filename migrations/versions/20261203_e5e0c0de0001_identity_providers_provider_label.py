"""identity providers: provider (a label, Eneo's federation `provider`) (2026-12-03)."""

import sqlalchemy as sa
from alembic import op

revision = "e5e0c0de0001"
down_revision = "c0ffee000001"


def upgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.drop_column("provider")
