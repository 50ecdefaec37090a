"""sync runs and conflicts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:14:19.727613
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xerosync.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("xero_id", sa.String(length=36), nullable=False),
        sa.Column("detected_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("winner", sa.String(length=10), nullable=False),
        sa.Column("crm_changed_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("xero_changed_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_conflicts_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflicts")),
    )
    with op.batch_alter_table("sync_conflicts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_conflicts_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("started_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("finished_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("full", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_runs_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_runs_connection_id"), ["connection_id"], unique=False
        )



def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_connection_id"))

    op.drop_table("sync_runs")
    with op.batch_alter_table("sync_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_conflicts_connection_id"))

    op.drop_table("sync_conflicts")
