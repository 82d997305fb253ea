"""identity providers: redirect_url

Revision ID: 8257a2976e97
Revises: 52edaad88bb5
Create Date: 2026-11-21 22:59:56.913534
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8257a2976e97"
down_revision: str | None = "52edaad88bb5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redirect_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.drop_column("redirect_url")
