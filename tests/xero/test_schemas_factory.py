"""Schemas are pure and tolerant; the factory wires settings into plain values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import fakeredis

from xerosync.settings import load_settings
from xerosync.xero import codec
from xerosync.xero.auth import MemoryTokenStore
from xerosync.xero.factory import budget_limits, build_client
from xerosync.xero.schemas import ContactSchema, InvoiceSchema, ItemSchema

INVOICE = """{
  "InvoiceID": "9b2c", "Type": "ACCREC", "Status": "DRAFT",
  "Contact": {"ContactID": "c1", "Name": "Acme", "SomethingNew": 1},
  "Date": "/Date(1709164800000+0000)/", "DueDate": "2024-03-31T00:00:00",
  "UpdatedDateUTC": "/Date(1709200000000+1300)/",
  "Total": 115.00, "SubTotal": 100.00, "TotalTax": 15.00, "CurrencyRate": 1.000000,
  "LineItems": [{"Description": "Widget", "Quantity": 2.0000, "UnitAmount": 50.00,
                 "DiscountRate": null, "LineAmount": 100.00, "Tracking": []}],
  "BrandNewField": {"nested": true}
}"""


def test_invoice_loads_money_as_decimal_dates_typed_unknowns_kept() -> None:
    loaded = InvoiceSchema().load(codec.loads(INVOICE))
    assert loaded["Total"] == Decimal("115.00") and isinstance(loaded["Total"], Decimal)
    assert loaded["LineItems"][0]["UnitAmount"] == Decimal("50.00")
    assert loaded["Date"] == date(2024, 2, 29) and loaded["DueDate"] == date(2024, 3, 31)
    assert loaded["UpdatedDateUTC"].utcoffset().total_seconds() == 13 * 3600
    assert loaded["BrandNewField"] == {"nested": True}
    assert loaded["Contact"]["SomethingNew"] == 1


def test_dump_for_requests() -> None:
    payload = InvoiceSchema(only=("Type", "Date", "LineItems")).dump(
        {
            "Type": "ACCREC",
            "Date": date(2024, 5, 1),
            "LineItems": [{"Quantity": Decimal("1.5"), "UnitAmount": Decimal("9.99")}],
        }
    )
    assert codec.dumps(payload, canonical=True) == (
        '{"Date":"2024-05-01","LineItems":[{"Quantity":1.5,"UnitAmount":9.99}],"Type":"ACCREC"}'
    )


def test_contact_and_item_shapes() -> None:
    contact = ContactSchema().load(
        {
            "ContactID": "x",
            "Name": "A",
            "Discount": 12.5,
            "Phones": [{"PhoneType": "MOBILE", "Extra": "y"}],
        }
    )
    assert contact["Discount"] == Decimal("12.5") and contact["Phones"][0]["Extra"] == "y"
    item = ItemSchema().load(
        {"Code": "W1", "QuantityOnHand": 3.0, "SalesDetails": {"UnitPrice": 10.1}}
    )
    assert item["QuantityOnHand"] == Decimal("3.0")
    assert item["SalesDetails"]["UnitPrice"] == Decimal("10.1")


def test_factory_wires_settings() -> None:
    settings = load_settings(
        {"XERO_MINUTE_SECONDS": "2", "INVOICE_RESERVED_SHARE": "0.25"}, env_file=None
    )
    limits = budget_limits(settings)
    assert limits.minute_seconds == 2 and limits.reserved(60) == 15
    client = build_client(
        settings, tenant_id="t1", store=MemoryTokenStore(), redis_client=fakeredis.FakeRedis()
    )
    assert client.api_url == settings.xero_api_url and client.tenant_id == "t1"
