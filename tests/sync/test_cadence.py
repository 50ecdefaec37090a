"""Cadence: idle organisations are polled less often, a change polls them at once again, and
the day's idle polling fits in what routine work has left of the day's budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, LinkStatus, XeroLink
from xerosync.sync import cadence, jobs, outbox, routine
from xerosync.sync.pull import STREAMS

outbox.install()

BASE, IDLE_MAX = 300.0, 1800.0
DAY = 86_400.0


@dataclass(frozen=True)
class Day:
    routine_left: int
    resets_in: float | None


# -- the pure planner ------------------------------------------------------------------------------
def test_an_idle_organisations_interval_doubles_up_to_the_operators_bound() -> None:
    intervals = [cadence.idle_interval(n, BASE, IDLE_MAX) for n in range(6)]
    assert intervals == [300, 600, 1200, 1800, 1800, 1800]
    assert cadence.idle_interval(10_000, BASE, IDLE_MAX) == IDLE_MAX
    assert cadence.idle_interval(3, BASE, 100.0) == BASE, "never below beat's own interval"


def test_an_idle_pass_costs_one_call_per_stream() -> None:
    assert len(STREAMS) == cadence.IDLE_PASS_CALLS
    assert cadence.DELETABLE == routine.DELETABLE


def test_the_plan_stretches_the_interval_so_idle_polling_lasts_until_the_reset() -> None:
    plenty = Day(routine_left=3_900, resets_in=DAY)
    assert cadence.plan_interval(0, BASE, IDLE_MAX, plenty) == BASE
    starter = Day(routine_left=800, resets_in=DAY)  # 1,000 a day less the invoice reserve
    interval = cadence.plan_interval(0, BASE, IDLE_MAX, starter)
    passes = DAY // interval
    assert interval > BASE and passes * cadence.IDLE_PASS_CALLS <= 800 * cadence.PLAN_SHARE
    assert cadence.plan_interval(5, BASE, IDLE_MAX, starter) == IDLE_MAX, "idle bound wins"


def test_an_exhausted_day_waits_for_the_reset() -> None:
    assert cadence.budget_interval(3, 5_000.0) == 5_000.0
    assert cadence.budget_interval(0, 5_000.0) == 5_000.0
    assert cadence.budget_interval(-4, 5_000.0) == 5_000.0
    assert cadence.budget_interval(100, 0.0) == 0.0, "the day has reset: no constraint"


def test_an_unknown_reset_plans_over_a_whole_day_window() -> None:
    unknown = Day(routine_left=400, resets_in=None)
    assert cadence.plan_interval(0, BASE, IDLE_MAX, unknown, day_seconds=DAY) == (
        cadence.budget_interval(400, DAY)
    )


def simulated_day(routine_left: int, *, adaptive: bool) -> tuple[int, bool]:
    """An idle organisation's calls over one day, beat ticking every 5 minutes."""
    now, calls, idle, ran_out = 0.0, 0, 0, False
    while now < DAY:
        if routine_left - calls < cadence.IDLE_PASS_CALLS:
            ran_out = True
            break
        calls += cadence.IDLE_PASS_CALLS
        if adaptive:
            day = Day(routine_left - calls, DAY - now)
            interval = cadence.plan_interval(idle, BASE, IDLE_MAX, day)
            idle += 1
        else:
            interval = BASE
        ticks = max(1, -(-interval // BASE))  # the next tick at or after the plan
        now += ticks * BASE
    return calls, ran_out


@pytest.mark.parametrize("day_limit", [1_000, 5_000])
def test_an_idle_organisation_never_runs_out_of_its_day(day_limit: int) -> None:
    routine_left = int(day_limit * 0.8)
    calls, ran_out = simulated_day(routine_left, adaptive=True)
    assert not ran_out and calls <= routine_left
    fixed, _ = simulated_day(10**9, adaptive=False)
    assert fixed == 1_152, "the old fixed five minutes: 4 calls x 288 passes"
    assert calls < fixed / 5


def test_a_starter_organisation_near_the_end_of_its_budget_still_lasts_the_day() -> None:
    calls, ran_out = simulated_day(60, adaptive=True)
    assert not ran_out and calls <= 60


# -- the state in Redis ----------------------------------------------------------------------------
def record(client: redis.Redis, *, idle: bool, at: float, day: Day | None = None) -> float:
    return cadence.record_pass(
        client, 7, idle=idle, started_at=at, base=BASE, idle_max=IDLE_MAX, day=day
    )


def test_idle_passes_back_off_and_a_busy_one_resets(real_redis: redis.Redis) -> None:
    assert cadence.next_pass_due(real_redis, 7) is None
    assert cadence.current_interval(real_redis, 7, BASE) == BASE
    assert cadence.is_due(real_redis, 7, 1_000.0, slack=150)
    assert [record(real_redis, idle=True, at=1_000.0 * n) for n in (1, 2, 3)] == [600, 1200, 1800]
    assert cadence.current_interval(real_redis, 7, BASE) == 1800
    assert cadence.next_pass_due(real_redis, 7) == datetime.fromtimestamp(4_800.0, UTC)
    assert not cadence.is_due(real_redis, 7, 4_500.0, slack=150)
    assert cadence.is_due(real_redis, 7, 4_650.0, slack=150), "half a tick early is due"
    assert record(real_redis, idle=False, at=5_000.0) == BASE
    assert cadence.idle_passes(real_redis, 7) == 0


def test_a_wake_makes_the_pass_due_at_once_and_starts_from_the_base(
    real_redis: redis.Redis,
) -> None:
    for n in (1, 2, 3):
        record(real_redis, idle=True, at=1_000.0 * n)
    cadence.wake(real_redis, 7, now=3_100.0)
    assert cadence.is_due(real_redis, 7, 3_100.0, slack=0)
    assert cadence.current_interval(real_redis, 7, BASE) == BASE
    assert record(real_redis, idle=True, at=3_200.0) == 600, "back-off starts again"


def test_a_wake_during_an_idle_pass_counts_as_a_change(real_redis: redis.Redis) -> None:
    record(real_redis, idle=True, at=1_000.0)
    cadence.wake(real_redis, 7, now=2_010.0)  # the CRM saved while the pass ran
    assert record(real_redis, idle=True, at=2_000.0) == BASE
    assert cadence.idle_passes(real_redis, 7) == 0


def test_the_budget_lengthens_even_a_busy_organisations_interval(
    real_redis: redis.Redis,
) -> None:
    assert record(real_redis, idle=False, at=0.0, day=Day(40, 3_600.0)) == 3_600.0 / 8


# -- what makes a pass idle ------------------------------------------------------------------------
def test_a_pass_that_read_only_unchanged_records_is_idle() -> None:
    quiet = {
        "contacts": {"read": 2_000, "unchanged": 2_000, "created": 0, "rejected": 0},
        "push": {"contacts": {"created": 0, "unchanged": 0, "skipped": 0}},
        "confirmed_orders": {"invoiced": 0, "waiting": 2},
        "voided_orders": {"deleted": 0, "left_alone": 0},
    }
    assert routine.pass_was_idle(quiet)
    for path in (("contacts", "created"), ("push", "contacts", "skipped"), ("voided_orders",
                 "left_alone"), ("contacts", "rejected")):  # fmt: skip
        busy: dict = {k: (dict(v) if isinstance(v, dict) else v) for k, v in quiet.items()}
        busy["push"] = {"contacts": dict(quiet["push"]["contacts"])}  # type: ignore[index]
        target = busy
        for name in path[:-1]:
            target = target[name]
        target[path[-1]] = 1
        assert not routine.pass_was_idle(busy), path


# -- against the sandbox: passes, tasks and the fan-out --------------------------------------------
def state(env: XerosyncEnv) -> redis.Redis:
    return redis.Redis.from_url(env.settings.REDIS_URL)


@pytest.mark.integration
def test_passes_that_find_nothing_are_planned_further_apart(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    first = jobs.routine_pass_for(env.connection_id)
    assert first.status == "ok" and first.detail["next_pass_in_seconds"] == BASE
    planned = [
        jobs.routine_pass_for(env.connection_id).detail["next_pass_in_seconds"] for _ in range(3)
    ]
    assert planned == [600, 1200, 1800]
    assert cadence.current_interval(state(env), env.connection_id, BASE) == 1800
    assert jobs.due_connections().due == [], "planned for later, nothing pending"
    assert jobs.due_connections().waiting == [env.connection_id]

    boom = next(c for c in env.contacts() if c["Name"] == "Boom FM")
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"EmailAddress": "x@boom.example"})
    found = jobs.routine_pass_for(env.connection_id)
    assert found.detail["counts"]["contacts"]["updated"] == 1
    assert found.detail["next_pass_in_seconds"] == BASE, "records found: polled at once again"


@pytest.mark.integration
def test_a_customer_saved_in_the_crm_makes_the_pass_due_at_the_next_tick(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    for _ in range(3):
        jobs.routine_pass_for(env.connection_id)
    assert jobs.due_connections().due == []
    with env.session() as session:
        session.add(Customer(connection_id=env.connection_id, name="Saved a moment ago"))
        session.commit()
    assert jobs.due_connections().due == [env.connection_id], "a pending outbox"


@pytest.mark.integration
def test_a_push_task_wakes_its_organisations_pass(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    for _ in range(3):
        jobs.routine_pass_for(env.connection_id)
    with env.session() as session:
        customer = session.scalars(select(Customer).where(Customer.name == "Boom FM")).one()
        customer.phone = "0800 123 456"
        session.commit()
        customer_id = customer.id
    assert jobs.push_contact(customer_id).status == "done"
    with env.session() as session:
        link = session.scalars(
            select(XeroLink).where(
                XeroLink.kind == LinkKind.CONTACT.value, XeroLink.local_id == customer_id
            )
        ).one()
        assert link.status == LinkStatus.SYNCED.value, "nothing left in the outbox"
    assert jobs.due_connections().due == [env.connection_id]
    assert cadence.current_interval(state(env), env.connection_id, BASE) == BASE


@pytest.mark.integration
def test_without_a_plan_every_organisation_is_due(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    assert jobs.due_connections().due == [env.connection_id]
