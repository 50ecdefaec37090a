"""The routine pass against the sandbox: import, outbox, voids, no echo, one pass at a time."""

from __future__ import annotations

import dataclasses
import time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from tests.sync.test_invoices import confirmed_order
from xerosync.models import (
    CreditNote,
    Customer,
    Invoice,
    Order,
    OrderStatus,
    Product,
    SyncConflict,
    SyncRun,
)
from xerosync.sync import jobs, outbox
from xerosync.sync.routine import pass_lease

pytestmark = pytest.mark.integration
outbox.install()

API = "/api.xro/2.0"


def run_pass(env: XerosyncEnv, **kw: Any) -> jobs.JobResult:
    result = jobs.routine_pass_for(env.connection_id, **kw)
    assert result.status == "ok", result.error
    return result


def by_name(env: XerosyncEnv, collection: str, field: str, value: str) -> dict[str, Any]:
    return next(r for r in env.sandbox.control.records(collection) if r.get(field) == value)


def test_first_pass_imports_the_demo_company(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    result = run_pass(env)
    counts = result.detail["counts"]
    assert counts["contacts"]["created"] > 5
    with env.session() as session:
        names = set(session.scalars(select(Customer.name)))
        assert {"Boom FM", "Marine Systems", "Template Ledger"} <= names
        archived = [c for c in session.scalars(select(Customer)) if not c.is_active]
        assert archived, "an archived contact becomes an inactive customer"
        tracked = [p for p in session.scalars(select(Product)) if p.is_tracked]
        assert tracked and all(p.quantity_on_hand is not None for p in tracked)
        invoices = list(session.scalars(select(Invoice)))
        assert invoices and all(i.lines for i in invoices)
        assert {"D", "N", "A", "P"} <= {i.status for i in invoices}
        assert session.scalars(select(CreditNote)).first() is not None
    seen = {
        inv["InvoiceID"]
        for inv in env.sandbox.control.records("Invoices")
        if inv["Type"] == "ACCPAY"
    }
    with env.session() as session:
        assert not seen & set(session.scalars(select(Invoice.xero_invoice_id)))


def test_no_request_ever_asks_for_bills(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    run_pass(env)
    for entry in env.sandbox.control.requests(path=f"{API}/Invoices", method="GET"):
        where = " ".join(entry["query"].get("where", []))
        assert 'Type=="ACCREC"' in where or entry["path"] != f"{API}/Invoices", entry
        assert "ACCPAY" not in where
    for entry in env.sandbox.control.requests(path=f"{API}/CreditNotes", method="GET"):
        assert 'Type=="ACCRECCREDIT"' in " ".join(entry["query"].get("where", [])), entry


def test_a_second_pass_with_nothing_changed_reads_once_per_stream(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    run_pass(env)
    env.sandbox.control.clear_requests()
    run_pass(env)
    calls = env.sandbox.control.requests(path=API)
    assert sorted(c["path"] for c in calls) == sorted(
        f"{API}/{r}" for r in ("Contacts", "Items", "Invoices", "CreditNotes")
    )
    assert all(c["method"] == "GET" for c in calls)
    assert all(c["query"].get("where") or c["path"] != f"{API}/Invoices" for c in calls)


def test_edits_in_xero_reach_the_crm_after_one_pass(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    control = env.sandbox.control
    run_pass(env)
    boom = by_name(env, "Contacts", "Name", "Boom FM")
    control.edit("Contacts", boom["ContactID"], {"EmailAddress": "new@boomfm.example"})
    tracked = next(i for i in control.records("Items") if i.get("IsTrackedAsInventory"))
    control.edit("Items", tracked["ItemID"], {"QuantityOnHand": 7})
    draft = next(
        i for i in control.records("Invoices") if i["Type"] == "ACCREC" and i["Status"] == "DRAFT"
    )
    control.edit("Invoices", draft["InvoiceID"], {"Reference": "changed in Xero"})
    note = next(c for c in control.records("CreditNotes") if c["Type"] == "ACCRECCREDIT")
    control.edit("CreditNotes", note["CreditNoteID"], {"Reference": "credit changed"})
    env.sandbox.control.clear_requests()

    run_pass(env)
    with env.session() as session:
        customer = session.scalars(select(Customer).where(Customer.name == "Boom FM")).one()
        assert customer.email == "new@boomfm.example"
        product = session.scalars(select(Product).where(Product.code == tracked["Code"])).one()
        assert product.quantity_on_hand == Decimal(7)
        invoice = session.scalars(
            select(Invoice).where(Invoice.xero_invoice_id == draft["InvoiceID"])
        ).one()
        assert invoice.reference == "changed in Xero"
        credit = session.scalars(
            select(CreditNote).where(CreditNote.xero_credit_note_id == note["CreditNoteID"])
        ).one()
        assert credit.reference == "credit changed"
    writes = [c for c in env.sandbox.control.requests(path=API) if c["method"] != "GET"]
    assert writes == [], "imported changes are not pushed back (no echo)"


def test_an_invoice_voided_in_xero_turns_the_order_to_d(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    assert jobs.invoice_order(order_id).status == "done"
    with env.session() as session:
        invoice_id = session.get_one(Order, order_id).xero_invoice_id
    assert invoice_id
    env.sandbox.control.edit("Invoices", invoice_id, {"Status": "AUTHORISED"})
    env.sandbox.control.edit("Invoices", invoice_id, {"Status": "VOIDED"})
    run_pass(env)
    with env.session() as session:
        copy = session.scalars(select(Invoice).where(Invoice.xero_invoice_id == invoice_id)).one()
        assert copy.status == "D"
        assert copy.order_id == order_id
        assert session.get_one(Order, order_id).xero_invoice_status == "VOIDED"


def test_a_crm_voided_order_deletes_its_draft(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    assert jobs.invoice_order(order_id).status == "done"
    with env.session() as session:
        order = session.get_one(Order, order_id)
        order.status = OrderStatus.VOIDED.value
        session.commit()
        invoice_id = order.xero_invoice_id
    result = run_pass(env)
    assert result.detail["counts"]["voided_orders"]["deleted"] == 1
    assert env.sandbox.control.record("Invoices", str(invoice_id))["Status"] == "DELETED"
    with env.session() as session:
        copy = session.scalars(select(Invoice).where(Invoice.xero_invoice_id == invoice_id)).one()
        assert copy.status == "D"
        assert session.get_one(Order, order_id).xero_invoice_status == "DELETED"


def test_an_authorised_invoice_of_a_voided_order_is_left_alone(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    assert jobs.invoice_order(order_id).status == "done"
    with env.session() as session:
        invoice_id = session.get_one(Order, order_id).xero_invoice_id
    env.sandbox.control.edit("Invoices", str(invoice_id), {"Status": "AUTHORISED"})
    run_pass(env)  # learns it is authorised
    with env.session() as session:
        session.get_one(Order, order_id).status = OrderStatus.VOIDED.value
        session.commit()
    result = run_pass(env)
    assert result.detail["counts"]["voided_orders"]["left_alone"] == 1
    assert env.sandbox.control.record("Invoices", str(invoice_id))["Status"] == "AUTHORISED"


def test_a_change_on_both_sides_is_settled_and_recorded(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    run_pass(env)
    boom = by_name(env, "Contacts", "Name", "Boom FM")
    with env.session() as session:
        customer = session.scalars(select(Customer).where(Customer.name == "Boom FM")).one()
        customer.phone = "5559999"
        session.commit()
    env.sandbox.control.advance_clock(5)
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"EmailAddress": "x@boomfm.example"})
    run_pass(env)
    with env.session() as session:
        [conflict] = session.scalars(select(SyncConflict)).all()
        assert conflict.xero_id == boom["ContactID"]
        assert conflict.winner in ("xero", "crm")


def test_a_pass_does_nothing_while_another_runs(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    with env.session() as session:
        lock = pass_lease(env.context(session), "another-task")
        assert lock.acquire()
        try:
            result = jobs.routine_pass_for(env.connection_id)
        finally:
            lock.release()
    assert result.status == "skipped"
    with env.session() as session:
        assert session.scalars(select(SyncRun)).all() == []


def test_pending_customers_are_pushed_by_the_pass(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    with env.session() as session:
        session.add(Customer(connection_id=env.connection_id, name="Saved While Broker Down"))
        session.commit()
    result = run_pass(env)
    assert result.detail["counts"]["push"]["contacts"]["created"] == 1
    assert by_name(env, "Contacts", "Name", "Saved While Broker Down")


def test_a_malformed_record_from_xero_is_set_aside_not_fatal(
    xerosync_env: XerosyncEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = xerosync_env
    boom = by_name(env, "Contacts", "Name", "Boom FM")
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"Discount": "a lot"})
    result = run_pass(env)
    assert result.detail["counts"]["contacts"]["rejected"] == 1
    assert any(
        boom["ContactID"] in r.getMessage() and "Discount" in r.getMessage() for r in caplog.records
    )
    with env.session() as session:
        names = set(session.scalars(select(Customer.name)))
    assert "Boom FM" not in names and "Marine Systems" in names
    assert run_pass(env).status == "ok"  # the next pass is not stuck on it


def test_a_late_applied_old_write_is_put_right_by_the_next_pass(
    xerosync_env: XerosyncEnv,
) -> None:
    """A write whose answer was lost lands after a newer one: the CRM's version wins."""

    from xerosync.models import LinkKind, XeroLink
    from xerosync.sync.push import push_customers
    from xerosync.xero.errors import TransportError

    env = xerosync_env
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name="Late Writes Ltd")
        session.add(customer)
        session.commit()
        push_customers(env.context(session), [customer])
        session.commit()
        customer_id = customer.id
    contact_id = str(
        env.session()
        .scalars(
            select(XeroLink.xero_id).where(
                XeroLink.kind == LinkKind.CONTACT.value, XeroLink.local_id == customer_id
            )
        )
        .one()
    )

    env.sandbox.control.add_fault("slow", method="POST", path=f"{API}/Contacts", seconds=2.0)
    with env.session() as session:
        customer = session.get_one(Customer, customer_id)
        customer.email = "old@late.example"
        session.commit()
        ctx = env.context(session)
        ctx.client.timeout = 0.5
        with pytest.raises(TransportError):
            push_customers(ctx, [customer])  # applied by the sandbox 2 s later
        session.rollback()
        customer = session.get_one(Customer, customer_id)
        customer.email = "new@late.example"
        session.commit()
        push_customers(env.context(session), [customer])
        session.commit()
    time.sleep(2.5)
    assert env.sandbox.control.record("Contacts", contact_id)["EmailAddress"] == "old@late.example"

    run_pass(env)
    assert env.sandbox.control.record("Contacts", contact_id)["EmailAddress"] == "new@late.example"
    with env.session() as session:
        assert session.get_one(Customer, customer_id).email == "new@late.example"
        [conflict] = session.scalars(select(SyncConflict)).all()
        assert conflict.winner == "crm"


def test_a_pass_cut_short_by_the_minute_budget_says_when_to_resume(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    # 10 calls a 4-second "minute" (Xero's and ours): 2 kept for invoices and 1 never spent
    # leave 7 for routine work; pushing 150 customers after the first import takes more. (A
    # 2-second minute let a slow machine's pass outlast its windows and never be refused.)
    env.sandbox.control.config(minute_limit=10, minute_seconds=4)
    tight = dataclasses.replace(env.settings, XERO_MINUTE_LIMIT=10, XERO_MINUTE_SECONDS=4.0)
    assert jobs.routine_pass_for(env.connection_id, settings=tight).status == "ok"
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Backlog {n:03}") for n in range(150)
        )
        session.commit()
    results = [jobs.routine_pass_for(env.connection_id, settings=tight)]
    assert results[0].status == "interrupted"
    while results[-1].status == "interrupted" and len(results) < 10:
        resume_in = results[-1].retry_in
        assert resume_in is not None and 0 < resume_in <= 4
        time.sleep(resume_in)  # what the task's continuation does, through the broker
        results.append(jobs.routine_pass_for(env.connection_id, settings=tight))
    assert results[-1].status == "ok", [r.error for r in results]
    assert sum(r.detail["counts"].get("push", {}).get("contacts", {}).get("created", 0)
               for r in results) == 150  # fmt: skip
    names = [c["Name"] for c in env.contacts() if str(c["Name"]).startswith("Backlog")]
    assert len(names) == len(set(names)) == 150
    assert env.sandbox.control.requests(path=API) and not [
        r for r in env.sandbox.control.requests(path=API) if r["status"] == 429
    ]


def test_a_wait_longer_than_the_broker_holds_a_task_is_left_to_the_next_tick(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    env.sandbox.control.config(minute_limit=10, minute_seconds=60)
    brief_broker = dataclasses.replace(
        env.settings, XERO_MINUTE_LIMIT=10, BROKER_VISIBILITY_TIMEOUT=10
    )
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Backlog {n:03}") for n in range(400)
        )
        session.commit()
    result = jobs.routine_pass_for(env.connection_id, settings=brief_broker)
    assert result.status == "interrupted"
    assert result.retry_in is None  # about a minute away, longer than 10 s: beat's next pass
