"""identity providers: provider (a label, Eneo's federation `provider`)

Revision ID: e5e0c0de0001
Revises: c0ffee000001
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5e0c0de0001"
down_revision: str | None = "c0ffee000001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.drop_column("provider")
