"""The tasks the CRM calls, through the real Redis broker to a real worker and the sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from celery import Celery
from celery.events.state import State
from celery.events.state import Task as TaskState
from sqlalchemy import select

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import XerosyncEnv
from tests.sync.test_invoices import INVOICES_PATH, confirmed_order, invoices_for
from xerosync.connections import DatabaseTokenStore, token_cipher
from xerosync.models import Customer, LinkKind, LinkStatus, Order, XeroLink
from xerosync.tasks import create_invoice_for_order, describe_call, push_contact

pytestmark = pytest.mark.integration  # both brokers: tests/paths, the fault suite, priority


def test_push_contact_task_creates_the_contact(
    xerosync_env: XerosyncEnv, celery_worker: Any
) -> None:
    env = xerosync_env
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name="Platypus Plumbing")
        session.add(customer)
        session.commit()
        customer_id = customer.id
    push_contact.delay(customer_id)

    def synced() -> XeroLink | None:
        with env.session() as session:
            return session.scalars(
                select(XeroLink).where(
                    XeroLink.kind == LinkKind.CONTACT.value,
                    XeroLink.local_id == customer_id,
                    XeroLink.status == LinkStatus.SYNCED.value,
                )
            ).first()

    link = eventually(synced)
    assert env.sandbox.control.record("Contacts", link.xero_id)["Name"] == "Platypus Plumbing"


def test_invoice_task_retries_through_a_server_error(
    xerosync_env: XerosyncEnv, celery_worker: Any
) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    env.sandbox.control.add_fault("error", status=503, method="PUT", path=INVOICES_PATH)
    create_invoice_for_order.delay(order_id)

    def invoiced() -> str | None:
        with env.session() as session:
            return session.get_one(Order, order_id).xero_invoice_id

    eventually(invoiced)
    assert len(invoices_for(env, order_id)) == 1
    puts = env.sandbox.control.requests(path=INVOICES_PATH, method="PUT")
    assert [r["status"] for r in puts] == [503, 200]


def test_beats_task_fans_out_a_pass_per_organisation(
    xerosync_env: XerosyncEnv, celery_worker: Any
) -> None:
    from xerosync.models import SyncRun
    from xerosync.tasks import run_routine_pass

    env = xerosync_env
    run_routine_pass.delay()

    def finished() -> list[SyncRun]:
        with env.session() as session:
            return [r for r in session.scalars(select(SyncRun)) if r.finished_at is not None]

    [run] = eventually(finished, timeout=60)
    assert run.outcome == "ok", run.error
    assert run.connection_id == env.connection_id
    assert run.counts and run.counts["contacts"]["created"] > 0


def test_a_pass_cut_short_by_the_budget_sends_its_own_continuation(
    xerosync_env: XerosyncEnv, celery_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xerosync.models import SyncRun
    from xerosync.settings import get_settings
    from xerosync.tasks import run_pass_for

    env = xerosync_env
    monkeypatch.setenv("XERO_MINUTE_LIMIT", "10")  # 7 calls a 2-s "minute" for routine work
    monkeypatch.setenv("XERO_MINUTE_SECONDS", "2")
    get_settings.cache_clear()
    env.sandbox.control.config(minute_limit=10, minute_seconds=2)
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Resumed {n:03}") for n in range(200)
        )
        session.commit()
    run_pass_for.delay(env.connection_id)  # one tick; nothing else sends a pass

    def finished() -> list[SyncRun]:
        """passes until one finishes the work"""
        with env.session() as session:
            runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
        return runs if runs and runs[-1].outcome == "ok" else []

    runs = eventually(finished, timeout=60)
    assert len(runs) >= 2 and {r.outcome for r in runs[:-1]} == {"interrupted"}
    names = [c["Name"] for c in env.contacts() if str(c["Name"]).startswith("Resumed")]
    assert len(names) == len(set(names)) == 200


# -- what Flower sees: the worker's task events, read the way Flower reads them ------------


@pytest.fixture
def task_events(celery_app: Celery) -> Iterator[State]:
    """Celery's event state (what Flower keeps), fed by a receiver on the test's broker."""
    state = celery_app.events.State()
    ready = threading.Event()
    with celery_app.connection_for_read() as connection:
        receiver = celery_app.events.Receiver(connection, handlers={"*": state.event})
        receiver.on_consume_ready = lambda *_a, **_k: ready.set()
        thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
        thread.start()
        assert ready.wait(30), "the event receiver did not start"
        yield state
        receiver.should_stop = True
        thread.join(timeout=10)


def ended(state: State, task_id: str, *states: str) -> TaskState | None:
    task = state.tasks.get(task_id)
    return task if task is not None and task.state in states else None


def customer_with(env: XerosyncEnv, name: str, **fields: Any) -> int:
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name=name, **fields)
        session.add(customer)
        session.commit()
        return customer.id


def link_of(env: XerosyncEnv, kind: LinkKind, local_id: int) -> XeroLink:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
        ).one()


def test_a_customer_xero_rejects_ends_failed_with_xeros_words_and_is_not_retried(
    xerosync_env: XerosyncEnv, celery_worker: Any, task_events: State
) -> None:
    env = xerosync_env
    customer_id = customer_with(env, "Bad Email Pty", email="not an email")
    sent = push_contact.delay(customer_id)

    task = eventually(lambda: ended(task_events, sent.id, "FAILURE", "SUCCESS"))
    assert task.state == "FAILURE"
    assert "RecordRejected" in task.exception
    assert "Email address must be valid." in task.exception
    assert f"customer #{customer_id}" in task.exception
    assert task.args == f"customer #{customer_id}"
    assert task.retries == 0
    # The record's error was committed before the task failed; one call, no retry.
    rejected = link_of(env, LinkKind.CONTACT, customer_id)
    assert rejected.status == LinkStatus.ERROR.value
    assert "Email address must be valid." in str(rejected.last_error)
    puts = env.sandbox.control.requests(path="/api.xro/2.0/Contacts", method="PUT")
    assert len(puts) == 1


def test_an_order_that_cannot_be_invoiced_ends_failed_naming_the_order_and_why(
    xerosync_env: XerosyncEnv, celery_worker: Any, task_events: State
) -> None:
    env = xerosync_env
    order_id = confirmed_order(env)
    with env.session() as session:
        session.get_one(Order, order_id).customer.email = "still not an email"
        session.commit()
    sent = create_invoice_for_order.delay(order_id)

    task = eventually(lambda: ended(task_events, sent.id, "FAILURE", "SUCCESS"))
    assert task.state == "FAILURE"
    assert task.args == f"order #{order_id}"
    assert f"order #{order_id} cannot be invoiced" in task.exception
    assert "Email address must be valid." in task.exception
    assert link_of(env, LinkKind.INVOICE, order_id).status == LinkStatus.ERROR.value
    assert invoices_for(env, order_id) == []


def test_a_record_deferred_past_the_retry_horizon_shows_as_deferred(
    xerosync_env: XerosyncEnv, celery_worker: Any, task_events: State
) -> None:
    env = xerosync_env
    customer_id = customer_with(env, "Long Outage Ltd")
    env.sandbox.control.add_fault("error", count=5, status=503, path="/api.xro/2.0/Contacts")
    long_ago = time.time() - 7200  # first tried two hours ago: past the routine horizon
    sent = push_contact.delay(customer_id, first_tried_at=long_ago)

    task = eventually(lambda: ended(task_events, sent.id, "DEFERRED", "SUCCESS", "FAILURE"))
    assert task.state == "DEFERRED"
    assert task.args == f"customer #{customer_id}"
    assert "first_tried_at" in task.kwargs and "T" in task.kwargs  # a time, not a float
    assert f"customer #{customer_id} deferred" in task.result
    assert link_of(env, LinkKind.CONTACT, customer_id).status == LinkStatus.DEFERRED.value


def test_a_task_sent_by_name_still_names_its_record(
    xerosync_env: XerosyncEnv, celery_app: Celery, celery_worker: Any, task_events: State
) -> None:
    env = xerosync_env
    customer_id = customer_with(env, "Sent By Name")
    sent = celery_app.send_task("xerosync.tasks.push_contact", (customer_id,))

    task = eventually(lambda: ended(task_events, sent.id, "SUCCESS", "FAILURE"))
    assert task.state == "SUCCESS"
    assert task.args == f"customer #{customer_id}"


def test_a_call_is_described_by_its_record() -> None:
    assert describe_call("customer", (12,), {}) == ("customer #12", "{}")
    assert describe_call("product", (), {"product_id": 7, "force": True}) == (
        "product #7",
        "{'force': True}",
    )
    args, kwargs = describe_call("order", [5], {"first_tried_at": 0.0})
    assert args == "order #5"
    assert kwargs == "{'first_tried_at': '1970-01-01T00:00:00+00:00'}"


def test_a_record_waiting_for_a_reconnect_shows_as_needing_one(
    xerosync_env: XerosyncEnv, celery_worker: Any, task_events: State
) -> None:
    env = xerosync_env
    customer_id = customer_with(env, "Revoked Rentals")
    tokens = DatabaseTokenStore(env.engine, token_cipher(env.settings)).load(env.sandbox.tenant_id)
    assert tokens is not None
    revoked = requests.post(
        f"{env.sandbox.url}/connect/revocation", data={"token": tokens.refresh_token}, timeout=5
    )
    assert revoked.ok
    sent = push_contact.delay(customer_id)

    task = eventually(lambda: ended(task_events, sent.id, "NEEDS_RECONNECT", "SUCCESS", "FAILURE"))
    assert task.state == "NEEDS_RECONNECT"
    assert task.args == f"customer #{customer_id}"
    assert "connected again" in task.result
