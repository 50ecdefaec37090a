from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xerosync.models import (
    Connection,
    Customer,
    DocumentStatus,
    Invoice,
    InvoiceLine,
    Order,
    OrderLine,
    Product,
)


def test_money_round_trips_as_decimal(session: Session, connection_row: Connection) -> None:
    product = Product(
        connection_id=connection_row.id,
        code="WIDGET",
        name="Widget",
        sales_unit_price=Decimal("19.9950"),
        purchase_unit_price=Decimal("0.0001"),
        quantity_on_hand=Decimal("12.5"),
    )
    session.add(product)
    session.commit()
    session.expunge_all()
    loaded = session.scalars(select(Product)).one()
    assert loaded.sales_unit_price == Decimal("19.9950")
    assert isinstance(loaded.sales_unit_price, Decimal)
    assert loaded.purchase_unit_price == Decimal("0.0001")
    assert loaded.quantity_on_hand == Decimal("12.5")


def test_times_come_back_aware_utc(session: Session, connection_row: Connection) -> None:
    when = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    order = Order(
        connection_id=connection_row.id,
        customer=Customer(connection_id=connection_row.id, name="Acme"),
        confirmed_at=when,
    )
    session.add(order)
    session.commit()
    session.expunge_all()
    loaded = session.scalars(select(Order)).one()
    assert loaded.confirmed_at == when
    assert loaded.confirmed_at is not None and loaded.confirmed_at.tzinfo == UTC
    assert loaded.created_at.tzinfo == UTC


def test_naive_datetimes_are_refused(session: Session, connection_row: Connection) -> None:
    session.add(
        Order(
            connection_id=connection_row.id,
            customer=Customer(connection_id=connection_row.id, name="Acme"),
            confirmed_at=datetime(2026, 1, 1),
        )
    )
    with pytest.raises(Exception, match="naive datetime"):
        session.commit()


def test_order_lines_keep_their_order_and_go_with_the_order(
    session: Session, connection_row: Connection
) -> None:
    customer = Customer(connection_id=connection_row.id, name="Acme", default_currency="AUD")
    order = Order(connection_id=connection_row.id, customer=customer, currency="AUD")
    order.lines = [
        OrderLine(position=2, description="second", quantity=Decimal(1), unit_price=Decimal(2)),
        OrderLine(position=1, description="first", quantity=Decimal(3), unit_price=Decimal(4)),
    ]
    session.add(order)
    session.commit()
    session.expunge_all()
    loaded = session.scalars(select(Order)).one()
    assert [line.description for line in loaded.lines] == ["first", "second"]
    session.delete(loaded)
    session.commit()
    assert session.scalars(select(OrderLine)).all() == []


def test_product_codes_are_unique_per_organisation(session: Session) -> None:
    first = Connection(tenant_id="t-1", tenant_name="One")
    second = Connection(tenant_id="t-2", tenant_name="Two")
    session.add_all([first, second])
    session.flush()
    session.add_all(
        [
            Product(connection_id=first.id, code="SKU", name="A"),
            Product(connection_id=second.id, code="SKU", name="A elsewhere"),
        ]
    )
    session.commit()
    session.add(Product(connection_id=first.id, code="SKU", name="duplicate"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_imported_invoice_with_lines(session: Session, connection_row: Connection) -> None:
    invoice = Invoice(
        connection_id=connection_row.id,
        xero_invoice_id="5f0e1c2a-0000-4000-8000-000000000001",
        invoice_number="INV-0001",
        status=DocumentStatus.DELETED.value,
        xero_status="VOIDED",
        date=date(2026, 11, 1),
        total=Decimal("110.00"),
        lines=[InvoiceLine(position=0, line_amount=Decimal("100.00"), tax_amount=Decimal(10))],
    )
    session.add(invoice)
    session.commit()
    session.expunge_all()
    loaded = session.scalars(select(Invoice)).one()
    assert loaded.status == "D"
    assert loaded.date == date(2026, 11, 1)
    assert loaded.lines[0].line_amount == Decimal("100.00")
