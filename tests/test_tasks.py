"""The tasks the CRM calls, through the real Redis broker to a real worker and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import XerosyncEnv
from tests.sync.test_invoices import INVOICES_PATH, confirmed_order, invoices_for
from xerosync.models import Customer, LinkKind, LinkStatus, Order, XeroLink
from xerosync.tasks import create_invoice_for_order, push_contact

pytestmark = pytest.mark.integration


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
