"""A contact merged in Xero (archived, `MergedToContactID`): its customer follows the merge to
the surviving contact, its orders invoice the survivor, and the merge is on record. Both
databases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from tests.sync.test_invoices import confirmed_order
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
from xerosync.sync import jobs

pytestmark = pytest.mark.integration


def run_pass(env: XerosyncEnv) -> jobs.JobResult:
    result = jobs.routine_pass_for(env.connection_id, settings=env.settings, engine=env.engine)
    assert result.status == "ok", result.error
    return result


def contact_link(env: XerosyncEnv, customer_id: int) -> XeroLink:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(
                XeroLink.kind == LinkKind.CONTACT.value, XeroLink.local_id == customer_id
            )
        ).one()


def order_customer(env: XerosyncEnv, order_id: int) -> int:
    with env.session() as session:
        return session.get_one(Order, order_id).customer_id


def new_contact_in_xero(env: XerosyncEnv, name: str) -> str:
    with env.session() as session:
        [result] = env.context(session).client.save("Contacts", [{"Name": name}], method="PUT")
    assert result.ok and result.id
    return str(result.id)


def merge(env: XerosyncEnv, merged: str, survivor: str) -> None:
    """What Xero shows after the accounts team merges `merged` into `survivor`."""
    env.sandbox.control.edit(
        "Contacts", merged, {"ContactStatus": "ARCHIVED", "MergedToContactID": survivor}
    )
    env.sandbox.control.edit("Contacts", survivor, {})


def order_for(env: XerosyncEnv, customer_id: int) -> int:
    """A confirmed order of one line for `customer_id`."""
    with env.session() as session:
        session.add(Product(connection_id=env.connection_id, code="MERGE-1", name="Merge kit",
                            sales_unit_price=Decimal(5), sales_account_code="200",
                            sales_tax_type="OUTPUT"))
        session.flush()
        product = session.scalars(select(Product).where(Product.code == "MERGE-1")).one()
        order = Order(connection_id=env.connection_id, customer_id=customer_id, currency="AUD",
                      status=OrderStatus.CONFIRMED.value,
                      lines=[OrderLine(position=1, product=product, quantity=Decimal(1),
                                       unit_price=Decimal(5))])
        session.add(order)
        session.commit()
        return order.id


def invoice_contact(env: XerosyncEnv, order_id: int) -> Any:
    result = jobs.invoice_order(order_id, settings=env.settings, engine=env.engine)
    assert result.status == "done", result.error
    with env.session() as session:
        invoice_id = session.get_one(Order, order_id).xero_invoice_id
    assert invoice_id
    return env.sandbox.control.record("Invoices", invoice_id)["Contact"]["ContactID"]


def test_a_merge_into_a_new_contact_moves_the_customers_link(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    run_pass(env)
    order_id = confirmed_order(env)
    customer_id = order_customer(env, order_id)
    run_pass(env)  # pushes the customer (and invoices the order: take it back out)
    merged = str(contact_link(env, customer_id).xero_id)
    with env.session() as session:
        order = session.get_one(Order, order_id)
        order.xero_invoice_id = None
        session.query(XeroLink).filter_by(kind=LinkKind.INVOICE.value).delete()
        session.commit()
    survivor = new_contact_in_xero(env, "Echidna Events Group")
    merge(env, merged, survivor)
    with env.session() as session:
        before = set(session.scalars(select(Customer.id)))
    counts = run_pass(env).detail["counts"]["contacts"]
    assert counts.get("merged") == 1
    link = contact_link(env, customer_id)
    assert link.xero_id == survivor and link.status == LinkStatus.SYNCED.value
    with env.session() as session:
        after = set(session.scalars(select(Customer.id)))
        assert session.get_one(Customer, customer_id).name == "Echidna Events Group"
        [record] = session.scalars(select(ContactMerge)).all()
    assert after == before, "no customer of its own for the survivor or the merged contact"
    assert (record.merged_contact_id, record.survivor_contact_id) == (merged, survivor)
    assert record.survivor_customer_id is None
    assert invoice_contact(env, order_for(env, customer_id)) == survivor


def test_a_merge_into_another_customers_contact_invoices_the_survivor(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    run_pass(env)
    with env.session() as session:
        survivor_customer = session.scalars(
            select(Customer).where(Customer.name == "Marine Systems")
        ).one()
    survivor = str(contact_link(env, survivor_customer.id).xero_id)
    with env.session() as session:
        duplicate = Customer(connection_id=env.connection_id, name="Marine Systems Pty")
        session.add(duplicate)
        session.commit()
        duplicate_id = duplicate.id
    run_pass(env)
    merged = str(contact_link(env, duplicate_id).xero_id)
    merge(env, merged, survivor)
    run_pass(env)
    link = contact_link(env, duplicate_id)
    assert link.status == LinkStatus.MERGED.value
    assert f"customer #{survivor_customer.id}" in (link.last_error or "")
    with env.session() as session:
        [record] = session.scalars(select(ContactMerge)).all()
    assert record.survivor_customer_id == survivor_customer.id
    assert invoice_contact(env, order_for(env, duplicate_id)) == survivor
    run_pass(env)  # and the merged customer is not pushed again over its archived contact
    assert contact_link(env, duplicate_id).status == LinkStatus.MERGED.value
