"""A pass whose worker is killed blocks its organisation for less than a minute.

The pass's lock is a lease renewed while it works (`xerosync.sync.lease`): SIGKILL the worker
in the middle of a pass and the lease lapses by itself; the next pass runs and records the
dead one as abandoned. The same task delivered again (late acknowledgement) takes over its
dead incarnation's lease at once instead of being acknowledged as "skipped".
"""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy import select

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.paths.support import API, assert_clean_logs, eventually
from xerosync.models import Customer, SyncRun
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.tasks import run_pass_for

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]

LEASE_KEY = f"xerosync:pass-lock:{DEMO_TENANT_ID}"
LEASE_SECONDS = 8.0
"""The killed pass's lease (SYNC_PASS_LEASE_SECONDS, 30 s by default): the same lapse, sooner."""


def runs(env: FaultEnv) -> list[SyncRun]:
    with env.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def start_a_slow_pass(env: FaultEnv) -> SyncRun:
    """A pass that is still working when it is killed: many pushes, each write slowed."""
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Killed Pass {n:03}")
            for n in range(120)
        )
        session.commit()
    env.control.add_fault("slow", count=50, method="PUT", path=f"{API}/Contacts", seconds=1.5)
    run_pass_for.delay(env.connection_id)
    [running] = eventually(
        lambda: [r for r in runs(env) if r.outcome == "running" and r.counts == {}] or None,
        timeout=30,
    )
    time.sleep(1.0)  # well inside its pushes
    return running


def test_a_killed_pass_lease_lapses_and_the_next_pass_runs(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    # No redelivery within this test (RabbitMQ requeues the pass at once, but no worker
    # consumes `sync` until the lease has lapsed).
    env.worker_env["BROKER_VISIBILITY_TIMEOUT"] = "600"
    env.worker_env["SYNC_PASS_LEASE_SECONDS"] = str(LEASE_SECONDS)
    worker = env.start_worker("sync", "sync", concurrency=1)
    dead = start_a_slow_pass(env)
    client = redis.Redis.from_url(env.redis.url)
    assert client.exists(LEASE_KEY)
    worker.kill()
    killed = time.monotonic()

    eventually(lambda: not client.exists(LEASE_KEY), timeout=60, every=0.2)
    lapsed_after = time.monotonic() - killed
    assert lapsed_after <= LEASE_SECONDS + 1, lapsed_after

    env.control.clear_faults()
    env.start_worker("sync2", "sync", concurrency=1)
    run_pass_for.delay(env.connection_id)  # beat's next tick
    finished = eventually(
        lambda: [r for r in runs(env) if r.id != dead.id and r.outcome == "ok"] or None,
        timeout=90,
    )
    assert finished
    [abandoned] = [r for r in runs(env) if r.id == dead.id]
    assert abandoned.outcome == "abandoned"
    assert abandoned.finished_at is not None and "died" in (abandoned.error or "")
    if env.broker.kind == "rabbitmq":
        # RabbitMQ put the killed pass back on `sync` when its connection closed: sync2 runs
        # it as well as beat's tick and the first import queued at connect, one after the
        # other. Settled once the broker holds none of them and none is running.
        eventually(
            lambda: (
                env.broker.backlog() == 0 and not [r for r in runs(env) if r.outcome == "running"]
            ),
            timeout=90,
        )
    assert not [r for r in runs(env) if r.outcome == "running"]
    assert_clean_logs(env, allowed_tracebacks=0)


def test_a_redelivered_pass_takes_over_its_dead_incarnations_lease(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    worker = env.start_worker("sync", "sync", concurrency=1)
    dead = start_a_slow_pass(env)
    worker.kill()
    env.control.clear_faults()
    # The broker hands the unacknowledged pass out again after its visibility timeout (15 s
    # here; RabbitMQ as soon as the killed worker's connection closes), while the dead pass's
    # lease may still be alive: it is the same task, so it runs.
    env.start_worker("sync2", "sync", concurrency=1)
    again = eventually(
        lambda: [r for r in runs(env) if r.id != dead.id and r.task_id == dead.task_id] or None,
        timeout=90,
    )
    [redelivered] = eventually(
        lambda: [r for r in runs(env) if r.id == again[0].id and r.outcome != "running"] or None,
        timeout=90,
    )
    assert redelivered.outcome == "ok", redelivered.error
    [abandoned] = [r for r in runs(env) if r.id == dead.id]
    assert abandoned.outcome == "abandoned"
    contacts = [c for c in env.control.records("Contacts") if "Killed Pass" in str(c["Name"])]
    assert len(contacts) == len({c["Name"] for c in contacts}) == 120
    assert_clean_logs(env)
