"""Mapping never chokes on odd CRM data: it builds a payload Xero can parse, or says why not.

Pure: no database, no network. What is checked is what the push relies on: the payload is
JSON the client can send, the fingerprint is stable, and the fields the push promises are
there (the customer's own number, never the accounts team's fields on an update).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given

from tests.property.strategies import CI, customer_fields, order_fields, product_fields
from xerosync.mapping.contacts import (
    TEMPLATE_FIELDS,
    TemplateDefaults,
    contact_details,
    contact_update,
    new_contact,
)
from xerosync.mapping.fingerprint import fingerprint
from xerosync.mapping.invoices import DeliveryLine, draft_invoice
from xerosync.mapping.items import item_payload
from xerosync.models import Customer, Order, OrderLine, Product
from xerosync.xero import codec

TEMPLATE = TemplateDefaults(
    branding_theme={"BrandingThemeID": "b1"},
    payment_terms={"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}},
    sales_default_account_code="200",
    discount=Decimal("5"),
)
DELIVERY = DeliveryLine(account_code="200", tax_type="OUTPUT")


def _roundtrips(payload: dict[str, Any]) -> None:
    """The client sends `codec.dumps(payload)`; it must be JSON that parses back."""
    assert isinstance(codec.loads(codec.dumps(payload).encode()), dict)


@given(customer_fields())
@CI
def test_any_customer_maps_to_a_sendable_contact(fields: dict[str, Any]) -> None:
    customer = Customer(id=7, connection_id=1, **fields)
    details = contact_details(customer)
    created = new_contact(customer, TEMPLATE)
    updated = contact_update(customer, "c-1")

    for payload in (details, created, updated):
        _roundtrips(payload)
    assert details["Name"] == fields["name"].strip()
    assert created["ContactNumber"] == "CRM-7"
    assert created["BrandingTheme"] == {"BrandingThemeID": "b1"}
    assert "Discount" not in created  # read-only in Xero
    assert not TEMPLATE_FIELDS & set(updated)
    assert updated["ContactID"] == "c-1"
    if details.get("DefaultCurrency"):
        assert details["DefaultCurrency"] == details["DefaultCurrency"].strip().upper()
    assert fingerprint(details) == fingerprint(contact_details(customer))


@given(product_fields())
@CI
def test_any_product_maps_to_a_sendable_item(fields: dict[str, Any]) -> None:
    product = Product(connection_id=1, purchase_account_code="300", **fields)
    payload = item_payload(product)
    _roundtrips(payload)
    assert payload["Code"] == fields["code"].strip()
    assert "ItemID" not in payload
    assert ("PurchaseDetails" in payload) is (not fields["is_tracked"])
    assert item_payload(product, "i-1")["ItemID"] == "i-1"


@given(order_fields(), customer_fields())
@CI
def test_any_order_maps_to_one_draft_with_a_line_per_order_line(
    fields: dict[str, Any], customer: dict[str, Any]
) -> None:
    product = Product(connection_id=1, code=" ODD ", name="Odd", sales_account_code="200")
    lines = [
        OrderLine(
            position=n,
            product=product if line.pop("with_product") else None,
            **line,
        )
        for n, line in enumerate(dict(line) for line in fields["lines"])
    ]
    order = Order(
        connection_id=1,
        customer=Customer(connection_id=1, default_discount=Decimal("5"), **customer),
        currency=fields["currency"],
        customer_reference=fields["customer_reference"],
        delivery_charge=fields["delivery_charge"],
        lines=lines,
    )
    payload = draft_invoice(order, "contact-1", DELIVERY)
    _roundtrips(payload)
    assert payload["Type"] == "ACCREC" and payload["Status"] == "DRAFT"
    expected = len(lines) + (1 if fields["delivery_charge"] else 0)
    assert len(payload["LineItems"]) == expected
    for line, sent in zip(lines, payload["LineItems"], strict=False):
        assert sent["Quantity"] == line.quantity  # never rounded or clipped on the way
        assert sent["UnitAmount"] == line.unit_price
        if line.product is not None:
            assert sent["ItemCode"] == "ODD"
        if line.discount_rate is None:
            assert sent["DiscountRate"] == Decimal("5")  # the customer's default discount
