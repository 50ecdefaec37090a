"""row_version on customers and products, kept by triggers; seen_version on links, so the
routine pass fingerprints only rows that changed (ORM or not)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xerosync.models.versioning import VERSIONED_TABLES, create_sql, drop_sql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in VERSIONED_TABLES:
        # A plain ADD COLUMN (no batch copy on SQLite, which would lose the table's triggers);
        # existing rows start at version 1 and their links at none, so the first pass after
        # the upgrade fingerprints every row once, as every pass did before.
        op.add_column(
            table, sa.Column("row_version", sa.Integer(), server_default="1", nullable=False)
        )
        for statement in create_sql(dialect, table):
            op.execute(statement)
    with op.batch_alter_table("xero_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seen_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("xero_links", schema=None) as batch_op:
        batch_op.drop_column("seen_version")
    for table in VERSIONED_TABLES:
        for statement in drop_sql(dialect, table):
            op.execute(statement)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("row_version")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS xerosync_bump_row_version()")
