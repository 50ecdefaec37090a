"""One organisation's backlog takes turns with another organisation's pass on one process.

Before the time slice, a first push of thousands of customers ran as one pass and held its
sync process to the end, and every other organisation's pass queued behind it (bench.many_orgs
--backlog 20000: the others' first passes took 176 s instead of 76 s). Now the long pass stops
after its slice where all it did is committed and its continuation queues behind the waiting
passes. The path: the backlog's first pass ends "continued", the other organisation's pass
runs before the backlog's continuation, every run_pass_for task succeeds, no traceback.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.faults.conftest import FaultEnv, drop_queued_first_import, fault_env  # noqa: F401
from tests.paths.support import assert_clean_logs, eventually
from xerosync.cli import main
from xerosync.models import Connection, Customer, SyncRun
from xerosync.tasks import run_pass_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
BACKLOG = 1100  # a chunk of 1,000 and the rest: two stopping points in the push alone


def _runs(env: FaultEnv) -> list[SyncRun]:
    with env.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.started_at, SyncRun.id)))


def test_a_backlog_takes_turns_with_another_organisations_pass(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    tenant = env.control.add_tenant("Waiting Org", seed="empty")
    env.control.bulk(tenant, Contacts=3)
    assert main(["connect", "--all"]) == 0
    drop_queued_first_import()
    with env.session() as session:
        other = session.scalars(select(Connection.id).where(Connection.tenant_id == tenant)).one()
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Backlog {n:04}")
            for n in range(BACKLOG)
        )
        session.commit()
    env.worker_env["SYNC_PASS_SLICE_SECONDS"] = "0.2"
    env.start_worker("sync", "sync", concurrency=1)  # one process: the two must take turns
    run_pass_for.delay(env.connection_id)
    run_pass_for.delay(other)

    def backlog_done() -> bool:
        runs = [r for r in _runs(env) if r.connection_id == env.connection_id]
        return bool(runs) and runs[-1].outcome == "ok"

    eventually(backlog_done, timeout=180)
    runs = _runs(env)
    backlog = [r for r in runs if r.connection_id == env.connection_id]
    waiting = [r for r in runs if r.connection_id == other]
    outcomes = [r.outcome for r in backlog]
    assert outcomes[0] == "continued" and outcomes[-1] == "ok", outcomes
    assert set(outcomes[:-1]) == {"continued"}, [r.error for r in backlog]
    assert waiting and waiting[0].outcome == "ok"
    # The other organisation's pass ran while the backlog was still being worked through.
    assert waiting[0].finished_at is not None and backlog[1].started_at >= waiting[0].finished_at
    pushed = sum(r.counts["push"]["contacts"]["created"] for r in backlog if r.counts.get("push"))
    assert pushed == BACKLOG
    names = [
        c["Name"] for c in env.control.records("Contacts") if str(c["Name"]).startswith("Backlog")
    ]
    assert len(names) == len(set(names)) == BACKLOG
    eventually(lambda: env.workers[0].log_path.read_text().count("succeeded") >= len(runs))
    assert env.served_429s() == 0
    assert_clean_logs(env)
