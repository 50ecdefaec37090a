"""records set aside by the import, contacts merged in Xero, phones as long as Xero's

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from xerosync.models.base import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_rejects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=40), nullable=False),
        sa.Column("xero_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "resource", "xero_id"),
    )
    op.create_index(
        op.f("ix_import_rejects_connection_id"), "import_rejects", ["connection_id"]
    )
    op.create_table(
        "contact_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("merged_contact_id", sa.String(length=36), nullable=False),
        sa.Column("survivor_contact_id", sa.String(length=36), nullable=False),
        sa.Column("survivor_customer_id", sa.Integer(), nullable=True),
        sa.Column("detected_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_contact_merges_connection_id"), "contact_merges", ["connection_id"]
    )
    op.create_index(op.f("ix_contact_merges_customer_id"), "contact_merges", ["customer_id"])
    op.create_index(
        op.f("ix_contact_merges_merged_contact_id"), "contact_merges", ["merged_contact_id"]
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "phone", existing_type=sa.String(length=50), type_=sa.String(length=100)
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column(
            "phone", existing_type=sa.String(length=100), type_=sa.String(length=50)
        )
    op.drop_table("contact_merges")
    op.drop_table("import_rejects")
