"""The CRM side: customers, products, orders (quotes) and the sales documents imported from Xero.

Every row belongs to one Xero organisation (`connection_id`), so many organisations can live
in one database. Money and quantities are `Numeric`; nothing here is a float.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, FetchedValue, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from xerosync.models.base import Base, Quantity, Rate, Timestamped
from xerosync.models.versioning import keep_row_version


class OrderStatus(enum.StrEnum):
    QUOTE = "quote"
    CONFIRMED = "confirmed"
    VOIDED = "voided"


class DocumentStatus(enum.StrEnum):
    """The CRM's one-letter status of an imported invoice or credit note."""

    DRAFT = "N"
    SUBMITTED = "S"
    AUTHORISED = "A"
    PAID = "P"
    DELETED = "D"
    """Voided or deleted in Xero: the CRM shows "D"."""


class Customer(Timestamped, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    default_currency: Mapped[str | None] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(default=True)
    tax_type: Mapped[str | None] = mapped_column(String(50))
    tax_number: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(100))
    """Xero's PhoneCountryCode (20), PhoneAreaCode (10) and PhoneNumber (50), joined."""
    address_line1: Mapped[str | None] = mapped_column(String(500))
    address_line2: Mapped[str | None] = mapped_column(String(500))
    city: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    default_discount: Mapped[Decimal | None] = mapped_column(Rate)
    row_version: Mapped[int] = mapped_column(
        Integer, server_default="1", server_onupdate=FetchedValue()
    )
    """Moved by a database trigger on every UPDATE, ORM or not (`models.versioning`)."""


class Product(Timestamped, Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("connection_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    sales_unit_price: Mapped[Decimal | None]
    sales_account_code: Mapped[str | None] = mapped_column(String(10))
    sales_tax_type: Mapped[str | None] = mapped_column(String(50))
    purchase_unit_price: Mapped[Decimal | None]
    purchase_account_code: Mapped[str | None] = mapped_column(String(10))
    is_obsolete: Mapped[bool] = mapped_column(default=False)
    is_tracked: Mapped[bool] = mapped_column(default=False)
    quantity_on_hand: Mapped[Decimal | None] = mapped_column(Quantity)
    row_version: Mapped[int] = mapped_column(
        Integer, server_default="1", server_onupdate=FetchedValue()
    )
    """Moved by a database trigger on every UPDATE, ORM or not (`models.versioning`)."""


keep_row_version(Customer.__table__)  # type: ignore[arg-type]
keep_row_version(Product.__table__)  # type: ignore[arg-type]


class Order(Timestamped, Base):
    """A quote; confirming it makes a Draft sales invoice in Xero."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    number: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str | None] = mapped_column(String(3))
    customer_reference: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.QUOTE.value)
    delivery_charge: Mapped[Decimal | None]
    confirmed_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    xero_invoice_id: Mapped[str | None] = mapped_column(String(36))
    xero_invoice_number: Mapped[str | None] = mapped_column(String(255))
    xero_invoice_status: Mapped[str | None] = mapped_column(String(20))

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.position", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit_price: Mapped[Decimal]
    tax_type: Mapped[str | None] = mapped_column(String(50))
    discount_rate: Mapped[Decimal | None] = mapped_column(Rate)
    account_code: Mapped[str | None] = mapped_column(String(10))

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()


class _DocumentColumns(Timestamped):
    """Header fields invoices and credit notes share, as imported from Xero."""

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    xero_contact_id: Mapped[str | None] = mapped_column(String(36))
    reference: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(1))
    xero_status: Mapped[str] = mapped_column(String(20))
    line_amount_types: Mapped[str | None] = mapped_column(String(20))
    sub_total: Mapped[Decimal | None]
    total_tax: Mapped[Decimal | None]
    total: Mapped[Decimal | None]
    xero_updated_at: Mapped[datetime | None]

    @declared_attr
    def customer_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("customers.id"), index=True)


class _LineColumns:
    """Line fields invoices and credit notes share."""

    id: Mapped[int] = mapped_column(primary_key=True)
    xero_line_item_id: Mapped[str | None] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer, default=0)
    item_code: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    unit_amount: Mapped[Decimal | None]
    tax_type: Mapped[str | None] = mapped_column(String(50))
    tax_amount: Mapped[Decimal | None]
    line_amount: Mapped[Decimal | None]
    account_code: Mapped[str | None] = mapped_column(String(10))

    @declared_attr
    def product_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("products.id"))


class Invoice(_DocumentColumns, Base):
    """A sales invoice (ACCREC) as Xero holds it. Bills are never imported."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("connection_id", "xero_invoice_id"),)

    xero_invoice_id: Mapped[str] = mapped_column(String(36))
    invoice_number: Mapped[str | None] = mapped_column(String(255))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date)
    amount_due: Mapped[Decimal | None]
    amount_paid: Mapped[Decimal | None]
    amount_credited: Mapped[Decimal | None]

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )


class InvoiceLine(_LineColumns, Base):
    __tablename__ = "invoice_lines"

    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    discount_rate: Mapped[Decimal | None] = mapped_column(Rate)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")


class CreditNote(_DocumentColumns, Base):
    """A sales credit note (ACCRECCREDIT). Supplier credit notes are never imported."""

    __tablename__ = "credit_notes"
    __table_args__ = (UniqueConstraint("connection_id", "xero_credit_note_id"),)

    xero_credit_note_id: Mapped[str] = mapped_column(String(36))
    credit_note_number: Mapped[str | None] = mapped_column(String(255))
    remaining_credit: Mapped[Decimal | None]

    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note",
        order_by="CreditNoteLine.position",
        cascade="all, delete-orphan",
    )


class CreditNoteLine(_LineColumns, Base):
    __tablename__ = "credit_note_lines"

    credit_note_id: Mapped[int] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True
    )

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")
