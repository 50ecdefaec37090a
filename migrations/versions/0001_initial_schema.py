"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 12:57:10.086829
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xerosync.models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_name", sa.String(length=255), nullable=False),
        sa.Column("tenant_type", sa.String(length=32), nullable=False),
        sa.Column("auth_kind", sa.String(length=32), nullable=False),
        sa.Column("token_blob", sa.Text(), nullable=True),
        sa.Column("token_encrypted", sa.Boolean(), nullable=False),
        sa.Column("template_contact_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_connections_tenant_id")),
    )
    op.create_table(
        "xero_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("local_ids", sa.JSON(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_body", sa.JSON(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xero_writes")),
    )
    with op.batch_alter_table("xero_writes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_xero_writes_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_xero_writes_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("default_currency", sa.String(length=3), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tax_type", sa.String(length=50), nullable=True),
        sa.Column("tax_number", sa.String(length=50), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("address_line1", sa.String(length=500), nullable=True),
        sa.Column("address_line2", sa.String(length=500), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=True),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("postal_code", sa.String(length=50), nullable=True),
        sa.Column("country", sa.String(length=50), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("default_discount", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_customers_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customers_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("sales_unit_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("sales_account_code", sa.String(length=10), nullable=True),
        sa.Column("sales_tax_type", sa.String(length=50), nullable=True),
        sa.Column("purchase_unit_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("purchase_account_code", sa.String(length=10), nullable=True),
        sa.Column("is_obsolete", sa.Boolean(), nullable=False),
        sa.Column("is_tracked", sa.Boolean(), nullable=False),
        sa.Column("quantity_on_hand", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_products_connection_id_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("connection_id", "code", name=op.f("uq_products_connection_id_code")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "sync_cursors",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=40), nullable=False),
        sa.Column("cursor", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_cursors_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "stream", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "xero_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("xero_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("pushed_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_field", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_after", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("pushed_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("xero_updated_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_xero_links_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xero_links")),
        sa.UniqueConstraint(
            "connection_id",
            "kind",
            "local_id",
            name=op.f("uq_xero_links_connection_id_kind_local_id"),
        ),
        sa.UniqueConstraint(
            "connection_id",
            "kind",
            "xero_id",
            name=op.f("uq_xero_links_connection_id_kind_xero_id"),
        ),
    )
    with op.batch_alter_table("xero_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_xero_links_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_xero_links_status"), ["status"], unique=False)

    op.create_table(
        "credit_notes",
        sa.Column("xero_credit_note_id", sa.String(length=36), nullable=False),
        sa.Column("credit_note_number", sa.String(length=255), nullable=True),
        sa.Column("remaining_credit", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("xero_contact_id", sa.String(length=36), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.Column("xero_status", sa.String(length=20), nullable=False),
        sa.Column("line_amount_types", sa.String(length=20), nullable=True),
        sa.Column("sub_total", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("total_tax", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("total", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("xero_updated_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_credit_notes_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_notes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_notes")),
        sa.UniqueConstraint(
            "connection_id",
            "xero_credit_note_id",
            name=op.f("uq_credit_notes_connection_id_xero_credit_note_id"),
        ),
    )
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_notes_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_credit_notes_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("customer_reference", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("delivery_charge", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("confirmed_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("voided_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("xero_invoice_id", sa.String(length=36), nullable=True),
        sa.Column("xero_invoice_number", sa.String(length=255), nullable=True),
        sa.Column("xero_invoice_status", sa.String(length=20), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.id"], name=op.f("fk_orders_connection_id_connections")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "credit_note_lines",
        sa.Column("credit_note_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("xero_line_item_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("unit_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("tax_type", sa.String(length=50), nullable=True),
        sa.Column("tax_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("line_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("account_code", sa.String(length=10), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["credit_note_id"],
            ["credit_notes.id"],
            name=op.f("fk_credit_note_lines_credit_note_id_credit_notes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_credit_note_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_note_lines")),
    )
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_note_lines_credit_note_id"), ["credit_note_id"], unique=False
        )

    op.create_table(
        "invoices",
        sa.Column("xero_invoice_id", sa.String(length=36), nullable=False),
        sa.Column("invoice_number", sa.String(length=255), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("amount_due", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("amount_paid", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("amount_credited", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("xero_contact_id", sa.String(length=36), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=1), nullable=False),
        sa.Column("xero_status", sa.String(length=20), nullable=False),
        sa.Column("line_amount_types", sa.String(length=20), nullable=True),
        sa.Column("sub_total", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("total_tax", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("total", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("xero_updated_at", xerosync.models.base.UTCDateTime(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", xerosync.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_invoices_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_invoices_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "connection_id",
            "xero_invoice_id",
            name=op.f("uq_invoices_connection_id_xero_invoice_id"),
        ),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoices_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_invoices_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invoices_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("tax_type", sa.String(length=50), nullable=True),
        sa.Column("discount_rate", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("account_code", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_lines_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_lines_order_id"), ["order_id"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("discount_rate", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("xero_line_item_id", sa.String(length=36), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("unit_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("tax_type", sa.String(length=50), nullable=True),
        sa.Column("tax_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("line_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("account_code", sa.String(length=10), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_lines_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_invoice_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
    )
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_lines_invoice_id"), ["invoice_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoice_lines_invoice_id"))

    op.drop_table("invoice_lines")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_lines_order_id"))

    op.drop_table("order_lines")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_order_id"))
        batch_op.drop_index(batch_op.f("ix_invoices_customer_id"))
        batch_op.drop_index(batch_op.f("ix_invoices_connection_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("credit_note_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_note_lines_credit_note_id"))

    op.drop_table("credit_note_lines")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_customer_id"))
        batch_op.drop_index(batch_op.f("ix_orders_connection_id"))

    op.drop_table("orders")
    with op.batch_alter_table("credit_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_notes_customer_id"))
        batch_op.drop_index(batch_op.f("ix_credit_notes_connection_id"))

    op.drop_table("credit_notes")
    with op.batch_alter_table("xero_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xero_links_status"))
        batch_op.drop_index(batch_op.f("ix_xero_links_connection_id"))

    op.drop_table("xero_links")
    op.drop_table("sync_cursors")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_connection_id"))

    op.drop_table("products")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_connection_id"))

    op.drop_table("customers")
    with op.batch_alter_table("xero_writes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_xero_writes_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_xero_writes_at"))

    op.drop_table("xero_writes")
    op.drop_table("connections")
