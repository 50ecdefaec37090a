"""An odd record from Xero, through a real prefork worker: the pass sets it aside and goes on.

The suite's database is PostgreSQL when it answers (SQLite otherwise); a name longer than its
column is refused the same way on both.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.paths.support import assert_clean_logs, eventually
from xerosync.models import Customer, ImportReject, SyncRun
from xerosync.tasks import run_pass_for

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(180)]


def test_a_pass_sets_odd_records_aside_and_goes_on(fault_env: FaultEnv) -> None:  # noqa: F811
    env = fault_env
    env.start_worker("sync", "sync", concurrency=1)
    contacts = {c["Name"]: c for c in env.control.records("Contacts")}
    env.control.edit("Contacts", contacts["Boom FM"]["ContactID"], {"Name": "B" * 300})
    env.control.edit("Contacts", contacts["Bayside Club"]["ContactID"], {"Name": "Bay\x00side"})
    with env.session() as session:
        session.add(Customer(connection_id=env.connection_id, name="Pushed After The Odd One"))
        session.commit()
    run_pass_for.delay(env.connection_id)

    def finished() -> list[SyncRun]:
        """the pass finished"""
        with env.session() as session:
            return [r for r in session.scalars(select(SyncRun)) if r.finished_at is not None]

    [run] = eventually(finished, timeout=90)
    assert run.outcome == "ok", run.error
    assert run.counts and run.counts["push"]["contacts"]["created"] >= 1
    with env.session() as session:
        names = set(session.scalars(select(Customer.name)))
        rejects = list(session.scalars(select(ImportReject)))
    assert "Marine Systems" in names and "Bayside" in names
    [reject] = rejects
    assert reject.xero_id == contacts["Boom FM"]["ContactID"]
    assert "longer than the 255" in reject.message
    assert [c for c in env.control.records("Contacts") if c["Name"] == "Pushed After The Odd One"]
    assert_clean_logs(env)
