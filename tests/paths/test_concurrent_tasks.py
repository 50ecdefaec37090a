"""Two tasks for one record at once: one does the work, the other finds it done.

The CRM may send the same confirmation twice (a double click, a retry of its own), and the
routine pass may reach a confirmed order while its task runs. Both used to race to insert the
order's link row (IntegrityError on `xero_links`, a crashed task). Each unit of work now holds
the record's lease; the second is sent back briefly and then finds the invoice recorded.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.fixtures.worker_logs import retries
from tests.paths.support import (
    API,
    all_logs,
    assert_clean_logs,
    confirmed_order,
    eventually,
    invoice_id,
    invoices_of,
    link,
    new_customer,
)
from xerosync.models import LinkKind, LinkStatus
from xerosync.tasks import create_invoice_for_order, push_contact, run_pass_for

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]


def test_two_invoice_tasks_and_a_pass_for_one_order(fault_env: FaultEnv) -> None:  # noqa: F811
    env = fault_env
    env.start_worker("invoices", "invoices", concurrency=2)
    env.start_worker("sync", "sync", concurrency=1)
    order_id = confirmed_order(env, "Double Click Dining")
    # The invoice write takes a while, so the second task and the pass arrive while it runs.
    env.control.add_fault("slow", method="PUT", path=f"{API}/Invoices", seconds=1.5)
    create_invoice_for_order.delay(order_id)
    create_invoice_for_order.delay(order_id)
    run_pass_for.delay(env.connection_id)

    eventually(lambda: invoice_id(env, order_id), timeout=60)
    text = all_logs(env)
    eventually(
        lambda: all_logs(env).count("create_invoice_for_order") >= 2
        and "succeeded" in all_logs(env),
        timeout=30,
    )
    assert len(invoices_of(env, order_id)) == 1
    order_link = link(env, LinkKind.INVOICE, order_id)
    assert order_link is not None and order_link.status == LinkStatus.SYNCED.value
    assert "IntegrityError" not in text
    assert_clean_logs(env)


def test_two_push_tasks_for_one_customer(fault_env: FaultEnv) -> None:  # noqa: F811
    env = fault_env
    env.start_worker("sync", "sync", concurrency=2)
    customer_id = new_customer(env, "Twice Saved Traders", email="twice@example.com")
    env.control.add_fault("slow", method="PUT", path=f"{API}/Contacts", seconds=1.5)
    push_contact.delay(customer_id)
    push_contact.delay(customer_id)

    def synced() -> bool:
        """the customer is linked and in step"""
        found = link(env, LinkKind.CONTACT, customer_id)
        return bool(found and found.status == LinkStatus.SYNCED.value)

    eventually(synced, timeout=60)
    eventually(lambda: all_logs(env).count("succeeded in") >= 2, timeout=30)
    assert retries(all_logs(env), "xerosync.tasks.push_contact"), "the second waited its turn"
    named = [c for c in env.control.records("Contacts") if c["Name"] == "Twice Saved Traders"]
    assert len(named) == 1
    assert_clean_logs(env)
