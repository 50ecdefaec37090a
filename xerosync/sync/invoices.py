"""A confirmed order becomes exactly one Draft sales invoice in Xero.

One order, one invoice, whatever is retried:
1. the invoice ID, once known, is stored on the order and nothing is sent again;
2. the write carries an Idempotency-Key derived from the payload, so a retry within Xero's
   memory of keys (minutes) is replayed rather than applied twice;
3. before any second attempt, the order's invoice is looked up in Xero by its `Url` (the
   link back to the CRM order), so a response lost longer ago than Xero remembers keys still
   does not create a duplicate. The attempt count is committed *before* each write.

The customer and the order's products are pushed first when Xero does not have them yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from xerosync.mapping.invoices import draft_invoice
from xerosync.models import (
    ContactMerge,
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    XeroLink,
)
from xerosync.sync import audit, outbox, outcomes
from xerosync.sync.context import OrgContext
from xerosync.sync.pull import survivor_of
from xerosync.sync.push import push_customers, push_products
from xerosync.xero import codec
from xerosync.xero.spend import spending_as

PRIORITY = "invoice"


class OrderNotInvoiceable(ValueError):
    """The order cannot become an invoice (missing, not confirmed, or its customer failed)."""


@dataclass(frozen=True)
class InvoiceOutcome:
    order_id: int
    result: str
    """"created", "found" (an earlier attempt's invoice), "exists" (already recorded),
    "rejected" (Xero refused it: see the order's link) or "skipped" (not confirmed)."""
    invoice_id: str | None = None
    invoice_number: str | None = None


def order_url(ctx: OrgContext, order: Order) -> str:
    return ctx.settings.CRM_ORDER_URL.format(order_id=order.id)


def load_order(ctx: OrgContext, order_id: int) -> Order:
    order = ctx.session.scalars(
        select(Order)
        .where(Order.id == order_id)
        .options(
            selectinload(Order.lines).selectinload(OrderLine.product),
            selectinload(Order.customer),
        )
    ).first()
    if order is None:
        raise OrderNotInvoiceable(f"order #{order_id} does not exist")
    return order


def _record(order: Order, link: XeroLink, invoice: dict[str, Any]) -> None:
    order.xero_invoice_id = str(invoice["InvoiceID"])
    order.xero_invoice_number = invoice.get("InvoiceNumber") or None
    order.xero_invoice_status = invoice.get("Status") or "DRAFT"
    link.xero_id = order.xero_invoice_id
    link.status = LinkStatus.SYNCED.value
    link.last_error = link.last_error_field = None
    link.xero_updated_at = codec.parse_datetime(invoice.get("UpdatedDateUTC"))


def find_existing_invoice(ctx: OrgContext, order: Order, contact_id: str) -> dict[str, Any] | None:
    """The invoice an earlier attempt created for this order, if Xero has one."""
    url = order_url(ctx, order)
    for invoice in ctx.client.rows(
        "Invoices",
        params={"ContactIDs": contact_id, "createdByMyApp": "true"},
        where='Type=="ACCREC"',
        priority=PRIORITY,
    ):
        if invoice.get("Url") == url and invoice.get("Status") not in ("DELETED", "VOIDED"):
            return invoice
    return None


def _ensure_in_xero(ctx: OrgContext, order: Order) -> str:
    """The order's contact id, pushing the customer and products Xero does not have yet."""
    customer: Customer = order.customer
    push_customers(ctx, [customer], priority=PRIORITY)
    link = outbox.get_link(ctx.session, ctx.connection.id, LinkKind.CONTACT, customer.id)
    survivor = merged_into(ctx, customer.id) if link is not None else None
    if link is not None and link.status == LinkStatus.MERGED.value and survivor:
        contact_id = survivor  # merged in Xero into another customer's contact
    elif link is None or link.xero_id is None:
        why = link.last_error if link is not None else "not pushed"
        raise OrderNotInvoiceable(
            f"customer #{customer.id} ({customer.name}) is not in Xero: {why}"
        )
    else:
        contact_id = link.xero_id
    products: list[Product] = [line.product for line in order.lines if line.product is not None]
    if products:
        push_products(ctx, products, priority=PRIORITY)
    return contact_id


def merged_into(ctx: OrgContext, customer_id: int) -> str | None:
    """The contact this customer's contact was last merged into in Xero, merges followed."""
    merge = ctx.session.scalars(
        select(ContactMerge)
        .where(
            ContactMerge.connection_id == ctx.connection.id,
            ContactMerge.customer_id == customer_id,
        )
        .order_by(ContactMerge.id.desc())
    ).first()
    return survivor_of(ctx, {}, merge.survivor_contact_id) if merge is not None else None


def create_invoice_for_order(ctx: OrgContext, order_id: int) -> InvoiceOutcome:
    """Make sure Xero holds the Draft invoice of a confirmed order, exactly once.

    Every call it makes (the customer's and products' first push included) is spent as
    "invoices"."""
    with spending_as("invoices"):
        return _create_invoice(ctx, order_id)


def _create_invoice(ctx: OrgContext, order_id: int) -> InvoiceOutcome:
    order = load_order(ctx, order_id)
    if order.status != OrderStatus.CONFIRMED.value:
        return InvoiceOutcome(order.id, "skipped")
    if order.xero_invoice_id:
        return InvoiceOutcome(order.id, "exists", order.xero_invoice_id, order.xero_invoice_number)
    link = outbox.link_for(ctx.session, ctx.connection.id, LinkKind.INVOICE, order.id)

    try:
        contact_id = _ensure_in_xero(ctx, order)
    except OrderNotInvoiceable as exc:
        outcomes.fail(link, exc.args[0])
        ctx.session.commit()
        raise

    if link.attempts:
        existing = find_existing_invoice(ctx, order, contact_id)
        if existing is not None:
            _record(order, link, existing)
            ctx.session.commit()
            return InvoiceOutcome(
                order.id, "found", order.xero_invoice_id, order.xero_invoice_number
            )

    payload = draft_invoice(order, contact_id, ctx.delivery)
    payload["Url"] = order_url(ctx, order)
    link.attempts = (link.attempts or 0) + 1
    ctx.session.commit()  # the attempt is on record before the write can happen

    with audit.writing("invoice", [order.id]):
        result = ctx.client.save("Invoices", [payload], method="PUT", priority=PRIORITY)[0]
    if not result.ok or result.record is None:
        outcomes.reject(link, result)
        order.xero_invoice_status = None
        ctx.session.commit()
        return InvoiceOutcome(order.id, "rejected")
    _record(order, link, result.record)
    ctx.session.commit()
    return InvoiceOutcome(order.id, "created", order.xero_invoice_id, order.xero_invoice_number)
