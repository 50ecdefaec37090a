"""Odd CRM records pushed to the sandbox: each is accepted, or its link says why in words.

The jobs are what a worker runs, so "nothing crashes a worker" means: every job returns a
`JobResult` (never raises), and afterwards the record's link is either synced to a Xero
record that holds what was sent, or in error with Xero's message (led by the field when the
message names one). One database and one sandbox serve all examples of a test, as one CRM
and one Xero organisation serve many records.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from tests.property.strategies import CI, customer_fields, order_fields, product_fields
from xerosync.models import (
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    XeroLink,
)
from xerosync.sync import jobs, outbox

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
outbox.install()

JOB_STATUSES = {"done", "failed", "deferred", "missing"}
_serial = itertools.count(1)


def link_of(env: XerosyncEnv, kind: LinkKind, local_id: int) -> XeroLink:
    with env.session() as session:
        link = session.scalars(
            select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
        ).one()
        session.expunge(link)
        return link


def assert_accepted_or_explained(link: XeroLink, what: str) -> None:
    """Synced to a Xero record, merged into another customer's, or an error with words."""
    if link.status == LinkStatus.SYNCED.value:
        assert link.xero_id, f"{what}: synced without a Xero id"
        assert not link.last_error
        return
    assert link.status in (LinkStatus.ERROR.value, LinkStatus.DEFERRED.value), (
        f"{what}: left {link.status} with no verdict"
    )
    assert link.last_error and link.last_error.strip(), f"{what}: {link.status} without words"
    assert "Traceback" not in link.last_error
    if link.last_error_field:
        assert link.last_error.startswith(f"{link.last_error_field}: ")


def new_customer(env: XerosyncEnv, fields: dict[str, Any]) -> int:
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, **fields)
        session.add(customer)
        session.commit()
        return customer.id


@given(customer_fields())
@CI
def test_an_odd_customer_is_accepted_or_holds_a_clear_error(
    env: XerosyncEnv, fields: dict[str, Any]
) -> None:

    customer_id = new_customer(env, fields)

    result = jobs.push_contact(customer_id)

    assert result.status in JOB_STATUSES, result
    link = link_of(env, LinkKind.CONTACT, customer_id)
    assert_accepted_or_explained(link, f"customer {fields!r}")
    if link.status == LinkStatus.SYNCED.value:
        contact = env.sandbox.control.record("Contacts", str(link.xero_id))
        assert contact["Name"].strip().lower() == fields["name"].strip().lower()
    else:
        # Xero's words name what is wrong (the field itself when it is the only problem).
        message = (link.last_error or "").lower()
        name = fields["name"].strip()
        if not name or len(name) > 255:
            assert "name" in message, link.last_error

    # An unchanged record costs nothing and changes nothing the second time.
    again = jobs.push_contact(customer_id)
    assert again.status in JOB_STATUSES, again
    assert link_of(env, LinkKind.CONTACT, customer_id).status == link.status


@given(product_fields())
@CI
def test_an_odd_product_is_accepted_or_holds_a_clear_error(
    env: XerosyncEnv, fields: dict[str, Any]
) -> None:

    fields = {**fields, "code": f"{next(_serial)}{fields['code']}"[:64]}
    with env.session() as session:
        product = Product(connection_id=env.connection_id, **fields)
        session.add(product)
        session.commit()
        product_id = product.id

    result = jobs.push_item(product_id)

    assert result.status in JOB_STATUSES, result
    link = link_of(env, LinkKind.ITEM, product_id)
    assert_accepted_or_explained(link, f"product {fields!r}")
    if link.status == LinkStatus.SYNCED.value:
        item = env.sandbox.control.record("Items", str(link.xero_id))
        assert item["Code"] == fields["code"].strip()


@given(order_fields(), customer_fields(), product_fields())
@CI
def test_an_odd_confirmed_order_is_one_draft_or_holds_a_clear_error(
    env: XerosyncEnv,
    fields: dict[str, Any],
    customer: dict[str, Any],
    product_data: dict[str, Any],
) -> None:

    product_data = {**product_data, "code": f"{next(_serial)}{product_data['code']}"[:64]}
    with env.session() as session:
        product = Product(connection_id=env.connection_id, **product_data)
        lines = []
        for n, line in enumerate(fields["lines"]):
            line = dict(line)
            with_product = line.pop("with_product")
            lines.append(OrderLine(position=n, product=product if with_product else None, **line))
        order = Order(
            connection_id=env.connection_id,
            customer=Customer(connection_id=env.connection_id, **customer),
            currency=fields["currency"],
            customer_reference=fields["customer_reference"],
            delivery_charge=fields["delivery_charge"],
            status=OrderStatus.CONFIRMED.value,
            lines=lines,
        )
        session.add(order)
        session.commit()
        order_id = order.id

    result = jobs.invoice_order(order_id)

    assert result.status in JOB_STATUSES, result
    link = link_of(env, LinkKind.INVOICE, order_id)
    assert_accepted_or_explained(link, f"order {fields!r}")
    url = env.settings.CRM_ORDER_URL.format(order_id=order_id)
    invoices = [
        i
        for i in env.sandbox.control.records("Invoices")
        if i.get("Url") == url and i.get("Status") != "DELETED"
    ]
    with env.session() as session:
        saved = session.get_one(Order, order_id)
        if link.status == LinkStatus.SYNCED.value:
            [invoice] = invoices
            assert saved.xero_invoice_id == invoice["InvoiceID"]
            assert len(invoice["LineItems"]) == len(lines) + (
                1 if fields["delivery_charge"] else 0
            )
            for sent, line in zip(invoice["LineItems"], lines, strict=False):
                assert Decimal(str(sent["Quantity"])) == line.quantity
        else:
            assert invoices == [], "rejected, yet Xero holds an invoice for the order"
            assert saved.xero_invoice_id is None

    # Running the job again never makes a second invoice.
    again = jobs.invoice_order(order_id)
    assert again.status in JOB_STATUSES, again
    assert len(
        [i for i in env.sandbox.control.records("Invoices") if i.get("Url") == url]
    ) == len(invoices)
