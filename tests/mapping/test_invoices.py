from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from xerosync.mapping.invoices import (
    DeliveryLine,
    crm_status,
    draft_invoice,
    invoice_fields,
    line_fields,
)
from xerosync.models import Customer, Order, OrderLine, Product

DELIVERY = DeliveryLine(account_code="200", tax_type="OUTPUT", description="Freight")


def order(delivery_charge: Decimal | None = Decimal("15.00")) -> Order:
    widget = Product(code="W1", name="Widget", sales_account_code="200", sales_tax_type="OUTPUT")
    customer = Customer(name="Acme", default_currency="AUD", default_discount=Decimal("5"))
    return Order(
        customer=customer,
        currency="usd",
        customer_reference="PO-77",
        delivery_charge=delivery_charge,
        confirmed_at=datetime(2026, 11, 25, 9, tzinfo=UTC),
        lines=[
            OrderLine(product=widget, quantity=Decimal(2), unit_price=Decimal("10.50")),
            OrderLine(
                description="Setup",
                quantity=Decimal(1),
                unit_price=Decimal(100),
                tax_type="EXEMPTOUTPUT",
                discount_rate=Decimal(0),
                account_code="260",
            ),
        ],
    )


def test_a_confirmed_order_is_a_draft_sales_invoice() -> None:
    payload = draft_invoice(order(), "c-1", DELIVERY)
    assert payload["Type"] == "ACCREC"
    assert payload["Status"] == "DRAFT"
    assert payload["Contact"] == {"ContactID": "c-1"}
    assert payload["CurrencyCode"] == "USD"
    assert payload["Reference"] == "PO-77"
    assert payload["Date"] == "2026-11-25"
    first, second, delivery = payload["LineItems"]
    assert first == {
        "ItemCode": "W1",
        "Description": "Widget",
        "Quantity": Decimal(2),
        "UnitAmount": Decimal("10.50"),
        "AccountCode": "200",
        "TaxType": "OUTPUT",
        "DiscountRate": Decimal(5),
    }
    assert second["AccountCode"] == "260"
    assert second["TaxType"] == "EXEMPTOUTPUT"
    assert "DiscountRate" not in second
    assert delivery == {
        "Description": "Freight",
        "Quantity": Decimal(1),
        "UnitAmount": Decimal("15.00"),
        "AccountCode": "200",
        "TaxType": "OUTPUT",
    }


def test_no_delivery_line_without_a_delivery_charge() -> None:
    assert len(draft_invoice(order(delivery_charge=None), "c-1", DELIVERY)["LineItems"]) == 2


@pytest.mark.parametrize(
    ("xero", "crm"),
    [("DRAFT", "N"), ("AUTHORISED", "A"), ("PAID", "P"), ("VOIDED", "D"), ("DELETED", "D")],
)
def test_voided_and_deleted_documents_read_as_d(xero: str, crm: str) -> None:
    assert crm_status(xero) == crm


def test_an_unknown_status_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="ARCHIVED"):
        crm_status("ARCHIVED")


def test_import_reads_an_invoice_and_its_lines() -> None:
    fields = invoice_fields(
        {
            "InvoiceID": "inv-1",
            "InvoiceNumber": "INV-0001",
            "Status": "VOIDED",
            "Contact": {"ContactID": "c-1"},
            "Date": datetime(2026, 11, 1, tzinfo=UTC),
            "Total": Decimal("110.00"),
        }
    )
    assert fields["status"] == "D"
    assert fields["xero_status"] == "VOIDED"
    assert fields["date"] == date(2026, 11, 1)
    assert fields["total"] == Decimal("110.00")
    line = line_fields({"LineItemID": "l-1", "Quantity": Decimal(2), "ItemCode": "W1"}, 0)
    assert (line["item_code"], line["quantity"]) == ("W1", Decimal(2))
