"""Orders → Draft sales invoices, and Xero's sales documents → the CRM's copies.

A confirmed order becomes one Draft ACCREC invoice: the customer's contact, the order's
currency and customer reference, one line per order line, and a delivery line when the order
carries a delivery charge. A line without a discount of its own takes the customer's default
discount (inherited from the template ledger), which is how that discount reaches Xero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from xerosync.models import DocumentStatus, Order, OrderLine

XERO_TO_CRM_STATUS = {
    "DRAFT": DocumentStatus.DRAFT,
    "SUBMITTED": DocumentStatus.SUBMITTED,
    "AUTHORISED": DocumentStatus.AUTHORISED,
    "PAID": DocumentStatus.PAID,
    "VOIDED": DocumentStatus.DELETED,
    "DELETED": DocumentStatus.DELETED,
}


@dataclass(frozen=True)
class DeliveryLine:
    """How a delivery charge is booked (from the settings)."""

    account_code: str
    tax_type: str
    description: str = "Delivery"
    item_code: str | None = None


def _line(line: OrderLine, default_discount: Decimal | None) -> dict[str, Any]:
    product = line.product
    payload: dict[str, Any] = {
        "Description": (
            line.description
            or (product.description if product else None)
            or (product.name if product else "")
        ).strip(),
        "Quantity": line.quantity,
        "UnitAmount": line.unit_price,
    }
    if product is not None:
        payload["ItemCode"] = product.code.strip()
    account = line.account_code or (product.sales_account_code if product else None)
    if account:
        payload["AccountCode"] = account
    tax = line.tax_type or (product.sales_tax_type if product else None)
    if tax:
        payload["TaxType"] = tax
    discount = line.discount_rate if line.discount_rate is not None else default_discount
    if discount:
        payload["DiscountRate"] = discount
    return payload


def invoice_date(order: Order) -> date | None:
    return order.confirmed_at.date() if order.confirmed_at else None


def draft_invoice(order: Order, contact_id: str, delivery: DeliveryLine) -> dict[str, Any]:
    """The Draft ACCREC invoice for a confirmed order."""
    lines = [_line(line, order.customer.default_discount) for line in order.lines]
    if order.delivery_charge:
        delivery_line: dict[str, Any] = {
            "Description": delivery.description,
            "Quantity": Decimal(1),
            "UnitAmount": order.delivery_charge,
            "AccountCode": delivery.account_code,
            "TaxType": delivery.tax_type,
        }
        if delivery.item_code:
            delivery_line["ItemCode"] = delivery.item_code
        lines.append(delivery_line)
    payload: dict[str, Any] = {
        "Type": "ACCREC",
        "Status": "DRAFT",
        "Contact": {"ContactID": contact_id},
        "LineAmountTypes": "Exclusive",
        "LineItems": lines,
    }
    currency = order.currency or order.customer.default_currency
    if currency:
        payload["CurrencyCode"] = currency.strip().upper()
    if order.customer_reference:
        payload["Reference"] = order.customer_reference.strip()
    when = invoice_date(order)
    if when:
        payload["Date"] = when.isoformat()
    return payload


def crm_status(xero_status: str) -> str:
    """The CRM's one-letter status for a Xero document status ("D" for voided/deleted)."""
    try:
        return XERO_TO_CRM_STATUS[xero_status.upper()].value
    except KeyError:
        raise ValueError(f"unknown Xero document status {xero_status!r}") from None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def document_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    """Header columns shared by imported invoices and credit notes."""
    contact = document.get("Contact") or {}
    status = str(document.get("Status") or "DRAFT")
    return {
        "xero_contact_id": contact.get("ContactID"),
        "reference": document.get("Reference") or None,
        "currency": document.get("CurrencyCode") or None,
        "date": _date(document.get("Date")),
        "status": crm_status(status),
        "xero_status": status,
        "line_amount_types": document.get("LineAmountTypes") or None,
        "sub_total": _decimal(document.get("SubTotal")),
        "total_tax": _decimal(document.get("TotalTax")),
        "total": _decimal(document.get("Total")),
        "xero_updated_at": document.get("UpdatedDateUTC"),
    }


def invoice_fields(invoice: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **document_fields(invoice),
        "xero_invoice_id": invoice["InvoiceID"],
        "invoice_number": invoice.get("InvoiceNumber") or None,
        "due_date": _date(invoice.get("DueDate")),
        "amount_due": _decimal(invoice.get("AmountDue")),
        "amount_paid": _decimal(invoice.get("AmountPaid")),
        "amount_credited": _decimal(invoice.get("AmountCredited")),
    }


def credit_note_fields(credit_note: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **document_fields(credit_note),
        "xero_credit_note_id": credit_note["CreditNoteID"],
        "credit_note_number": credit_note.get("CreditNoteNumber") or None,
        "remaining_credit": _decimal(credit_note.get("RemainingCredit")),
    }


def line_fields(line: Mapping[str, Any], position: int) -> dict[str, Any]:
    """Columns of one imported line (invoice or credit note)."""
    return {
        "xero_line_item_id": line.get("LineItemID"),
        "position": position,
        "item_code": line.get("ItemCode") or None,
        "description": line.get("Description") or None,
        "quantity": _decimal(line.get("Quantity")),
        "unit_amount": _decimal(line.get("UnitAmount")),
        "tax_type": line.get("TaxType") or None,
        "tax_amount": _decimal(line.get("TaxAmount")),
        "line_amount": _decimal(line.get("LineAmount")),
        "account_code": line.get("AccountCode") or None,
    }
