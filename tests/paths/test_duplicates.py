"""No duplicate when the rep is faster than the pass, through a real prefork worker.

The routine pass has imported Xero's contacts. The accounts team then enters a contact in
Xero; before the next pass a rep saves a customer with the same email (another case) and the
CRM enqueues its push. The worker's push links the customer to that contact instead of
creating a second one, and the next pass therefore finds one contact and one customer.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.paths.support import API, assert_clean_logs, eventually, link, new_customer
from xerosync.models import Customer, LinkKind, LinkStatus, SyncRun
from xerosync.tasks import push_contact, run_pass_for

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]

EMAIL = "ap@wombat-works.example"


def finished_passes(env: FaultEnv) -> list[SyncRun]:
    with env.session() as session:
        return list(
            session.scalars(
                select(SyncRun).where(SyncRun.finished_at.is_not(None)).order_by(SyncRun.id)
            )
        )


def run_a_pass(env: FaultEnv) -> SyncRun:
    """One routine pass, as beat sends it; its recorded outcome once it has finished."""
    done = len(finished_passes(env))
    run_pass_for.delay(env.connection_id)

    def finished() -> list[SyncRun] | None:
        """the pass has finished"""
        runs = finished_passes(env)
        return runs if len(runs) > done else None

    run = eventually(finished, timeout=90, every=0.25)[-1]
    assert run.outcome == "ok", run.error
    return run


def accounts_team_creates(env: FaultEnv, **fields: Any) -> dict[str, Any]:
    """A contact entered in Xero's UI (no ContactNumber: the UI cannot set one)."""
    before = {c["ContactID"] for c in env.control.records("Contacts")}
    env.control.bulk(Contacts=1)
    [new_id] = [
        c["ContactID"] for c in env.control.records("Contacts") if c["ContactID"] not in before
    ]
    return env.control.edit("Contacts", new_id, {"ContactNumber": None, **fields})


def same_email(env: FaultEnv) -> list[dict[str, Any]]:
    return [
        c
        for c in env.control.records("Contacts")
        if str(c.get("EmailAddress") or "").lower() == EMAIL
    ]


def test_a_customer_saved_before_the_pass_links_the_contact_the_accounts_team_entered(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    worker = env.start_worker("sync", "sync", concurrency=2)
    run_a_pass(env)  # Xero's contacts are in the CRM: the import's cursor is set

    entered = accounts_team_creates(
        env,
        Name="Wombat Works",
        EmailAddress="AP@Wombat-Works.example",
        PaymentTerms={"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}},
        SalesDefaultAccountCode="260",
    )
    customer_id = new_customer(env, "Wombat Works Pty Ltd", email=EMAIL, phone="5550177")
    env.control.clear_requests()
    task_id = push_contact.delay(customer_id).id

    def synced() -> bool:
        """the customer is linked and in step"""
        found = link(env, LinkKind.CONTACT, customer_id)
        return bool(found and found.status == LinkStatus.SYNCED.value)

    eventually(synced, timeout=60)
    succeeded = re.compile(
        rf"Task xerosync\.tasks\.push_contact\[{re.escape(task_id)}\] succeeded in [\d.]+s: "
        r"(?P<result>\{.*\})"
    )
    outcome = eventually(lambda: succeeded.search(worker.log_path.read_text()), timeout=30)
    result = outcome.group("result")
    assert "'status': 'done'" in result and "'error': None" in result, result
    assert "'created': 0" in result and "'linked': 1" in result, result
    linked = link(env, LinkKind.CONTACT, customer_id)
    assert linked is not None and linked.xero_id == entered["ContactID"]
    assert [c["ContactID"] for c in same_email(env)] == [entered["ContactID"]]
    assert env.control.requests(path=f"{API}/Contacts", method="PUT") == []  # no create
    after = env.control.record("Contacts", entered["ContactID"])
    assert after["Name"] == "Wombat Works Pty Ltd" and after["EmailAddress"] == EMAIL
    assert after["PaymentTerms"] == {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}
    assert after["SalesDefaultAccountCode"] == "260"

    run_a_pass(env)  # the next import reads the contact back: still one customer
    assert [c["ContactID"] for c in same_email(env)] == [entered["ContactID"]]
    with env.session() as session:
        customers = session.scalar(
            select(func.count()).select_from(Customer).where(func.lower(Customer.email) == EMAIL)
        )
    assert customers == 1
    assert_clean_logs(env)
