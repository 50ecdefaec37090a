"""Tasks follow the one retry policy to its end, through real prefork workers.

Celery's `self.retry(max_retries=None)` means "the task's default, 3": an order confirmed
during a 20-second outage used to end in MaxRetriesExceededError and wait minutes for the
routine pass. These tests watch the path: how often the task was retried, how long each wait
was, how soon after Xero's recovery the Draft existed, and that no task crashed.
"""

from __future__ import annotations

import time

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
    served_429s,
)
from xerosync.models import LinkKind, LinkStatus
from xerosync.sync.retry import INVOICE_POLICY
from xerosync.tasks import create_invoice_for_order, push_contact

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]

OUTAGE_SECONDS = 20.0
INVOICE_TASK = "xerosync.tasks.create_invoice_for_order"


def test_an_order_confirmed_during_an_outage_is_invoiced_within_seconds_of_recovery(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    env.start_worker("invoices", "invoices", concurrency=1)
    order_id = confirmed_order(env, "Outage Outfitters")
    env.control.add_fault("error", count=100_000, status=503, path=API)  # every call fails
    create_invoice_for_order.delay(order_id)
    time.sleep(OUTAGE_SECONDS)
    assert invoice_id(env, order_id) is None
    env.control.clear_faults()
    recovered = time.monotonic()

    eventually(lambda: invoice_id(env, order_id), timeout=30, every=0.05)
    after_recovery = time.monotonic() - recovered

    waits = retries(all_logs(env), INVOICE_TASK)
    assert len(waits) > 3, "retried past Celery's default limit of three"
    ceiling = INVOICE_POLICY.max_backoff * (1 + INVOICE_POLICY.jitter)
    assert max(waits) <= ceiling, waits
    # The longest wait is the policy's ceiling: the Draft follows recovery within it (and
    # the calls it takes), not at the next routine pass.
    assert after_recovery < ceiling + 5, after_recovery
    assert len(invoices_of(env, order_id)) == 1
    order_link = link(env, LinkKind.INVOICE, order_id)
    assert order_link is not None and order_link.status == LinkStatus.SYNCED.value
    assert served_429s(env) == 0
    assert_clean_logs(env)


def test_pushes_under_a_tight_rate_limit_all_arrive_without_a_crash(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    # Xero and xerosync on the same, tight, time-scaled limits: 20 calls a 1-second minute.
    env.control.config(minute_limit=20, minute_seconds=1, concurrent_limit=5)
    env.worker_env.update(
        XERO_MINUTE_LIMIT="20", XERO_MINUTE_SECONDS="1", XERO_CONCURRENT_LIMIT="5"
    )
    env.start_worker("sync", "sync", concurrency=4)
    ids = [new_customer(env, f"Rate Limited {n:03}") for n in range(80)]
    for customer_id in ids:
        push_contact.delay(customer_id)

    def all_synced() -> bool:
        """every customer's contact is in Xero"""
        links = [link(env, LinkKind.CONTACT, i) for i in ids]
        return all(x is not None and x.status == LinkStatus.SYNCED.value for x in links)

    eventually(all_synced, timeout=150, every=0.5)
    names = [c["Name"] for c in env.control.records("Contacts")]
    assert sum(1 for n in names if str(n).startswith("Rate Limited")) == len(ids)
    assert retries(all_logs(env), "xerosync.tasks.push_contact"), "the limit was hit"
    assert served_429s(env) == 0
    assert_clean_logs(env)
