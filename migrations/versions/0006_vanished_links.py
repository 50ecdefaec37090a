"""vanished_links: links whose Xero record no longer exists, and the relink made instead of a
duplicate

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xerosync.models.base import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vanished_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "connection_id",
            sa.Integer(),
            sa.ForeignKey("connections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("vanished_xero_id", sa.String(36), nullable=False),
        sa.Column("relinked_xero_id", sa.String(36), nullable=True),
        sa.Column("matched_by", sa.String(20), nullable=False),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
    )
    op.create_index(op.f("ix_vanished_links_connection_id"), "vanished_links", ["connection_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_vanished_links_connection_id"), table_name="vanished_links")
    op.drop_table("vanished_links")
