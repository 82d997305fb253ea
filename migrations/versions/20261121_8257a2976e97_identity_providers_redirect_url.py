"""identity providers: redirect_url (2026-11-21)."""

import sqlalchemy as sa
from alembic import op

revision = "8257a2976e97"
down_revision = "52edaad88bb5"


def upgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redirect_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_providers", schema=None) as batch_op:
        batch_op.drop_column("redirect_url")
