"""A confirmed order becomes exactly one Draft ACCREC invoice, whatever is lost or retried."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, Order, OrderLine, OrderStatus, Product
from xerosync.sync import jobs, outbox

pytestmark = pytest.mark.integration
outbox.install()

INVOICES_PATH = "/api.xro/2.0/Invoices"


def confirmed_order(env: XerosyncEnv, *, delivery: Decimal | None = Decimal("12.00")) -> int:
    with env.session() as session:
        customer = Customer(
            connection_id=env.connection_id, name="Echidna Events", default_currency="AUD"
        )
        widget = Product(
            connection_id=env.connection_id,
            code="TENT-4",
            name="Tent (4 person)",
            sales_unit_price=Decimal("250"),
            sales_account_code="200",
            sales_tax_type="OUTPUT",
        )
        order = Order(
            connection_id=env.connection_id,
            customer=customer,
            currency="AUD",
            customer_reference="PO-4411",
            status=OrderStatus.CONFIRMED.value,
            confirmed_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
            delivery_charge=delivery,
            lines=[
                OrderLine(
                    position=1,
                    product=widget,
                    quantity=Decimal(2),
                    unit_price=Decimal("240.00"),
                    discount_rate=Decimal("10"),
                ),
                OrderLine(
                    position=2,
                    description="Pitching service",
                    quantity=Decimal("1.5"),
                    unit_price=Decimal("80"),
                    account_code="260",
                    tax_type="OUTPUT",
                ),
            ],
        )
        session.add(order)
        session.commit()
        return order.id


def invoices_for(env: XerosyncEnv, order_id: int) -> list[dict[str, Any]]:
    url = env.settings.CRM_ORDER_URL.format(order_id=order_id)
    return [
        i
        for i in env.sandbox.control.records("Invoices")
        if i.get("Url") == url and i.get("Status") != "DELETED"
    ]


def test_a_confirmed_order_is_one_draft_invoice_with_its_lines(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    result = jobs.invoice_order(order_id)
    assert result.status == "done", result.error
    assert result.detail["result"] == "created"

    [invoice] = invoices_for(env, order_id)
    assert invoice["Type"] == "ACCREC"
    assert invoice["Status"] == "DRAFT"
    assert invoice["Reference"] == "PO-4411"
    assert invoice["CurrencyCode"] == "AUD"
    tent, service, delivery = invoice["LineItems"]
    assert tent["ItemCode"] == "TENT-4"
    assert Decimal(str(tent["Quantity"])) == 2
    assert Decimal(str(tent["UnitAmount"])) == Decimal("240.00")
    assert Decimal(str(tent["DiscountRate"])) == 10
    assert service["AccountCode"] == "260"
    assert delivery["Description"] == env.settings.DELIVERY_DESCRIPTION
    assert Decimal(str(delivery["UnitAmount"])) == Decimal("12.00")
    assert delivery["AccountCode"] == env.settings.DELIVERY_ACCOUNT_CODE

    with env.session() as session:
        order = session.get_one(Order, order_id)
        assert order.xero_invoice_id == invoice["InvoiceID"]
        assert order.xero_invoice_number == invoice["InvoiceNumber"]
        assert order.xero_invoice_status == "DRAFT"
    assert jobs.invoice_order(order_id).detail["result"] == "exists"
    assert len(invoices_for(env, order_id)) == 1


@pytest.mark.parametrize("idempotency_window_passed", [False, True])
def test_a_lost_response_never_makes_a_second_invoice(
    xerosync_env: XerosyncEnv, idempotency_window_passed: bool
) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    # Push customer and product first so the fault hits the invoice write itself.
    env.sandbox.control.add_fault("lost_response", method="PUT", path=INVOICES_PATH)
    first = jobs.invoice_order(order_id)
    assert first.status == "retry", first
    assert len(invoices_for(env, order_id)) == 1  # applied, answer lost

    if idempotency_window_passed:
        env.sandbox.control.advance_clock(env.sandbox.control.config()["idempotency_seconds"] + 60)
    second = jobs.invoice_order(order_id, attempt=1)
    assert second.status == "done", second.error
    assert second.detail["result"] == "found"
    assert len(invoices_for(env, order_id)) == 1
    with env.session() as session:
        assert session.get_one(Order, order_id).xero_invoice_id


def test_a_quote_is_not_invoiced(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    with env.session() as session:
        session.get_one(Order, order_id).status = OrderStatus.QUOTE.value
        session.commit()
    assert jobs.invoice_order(order_id).detail["result"] == "skipped"
    assert invoices_for(env, order_id) == []
