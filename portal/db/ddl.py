"""Column, constraint and index shapes the migrations repeat, written once.

Migrations that ran must produce the same DDL for ever: these helpers never change (a new shape gets a
new helper). Each builds exactly what Alembic's autogenerate wrote out by hand before."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from portal.db.base import UTCDateTime


def json_column(name: str) -> sa.Column[object]:
    """JSON, stored as JSONB on PostgreSQL; never NULL."""
    return sa.Column(
        name, sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
    )


def utc(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """A point in time, stored in UTC."""
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def id_and_timestamps() -> list[sa.Column[object]]:
    """`id`, `created_at`, `updated_at`: the tail of a table with a UUID key and its change times."""
    return [sa.Column("id", sa.Uuid(), nullable=False), utc("created_at"), utc("updated_at")]


def cascade_fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    """`table.column` references `target.id`, and goes with it when it is deleted."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def create_indexes(table: str, *columns: str) -> None:
    """A plain index `ix_{table}_{column}` on each column."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def drop_indexes(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))


def drop_columns(table: str, *columns: str, checks: tuple[str, ...] = ()) -> None:
    """Undoes added columns: first the check constraints `ck_{table}_{check}`, then each column."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for check in checks:
            batch_op.drop_constraint(op.f(f"ck_{table}_{check}"), type_="check")
        for column in columns:
            batch_op.drop_column(column)
