"""The day: a limit lower than configured learned from Xero (the Starter tier's), the invoice
reserve held for the whole day, the day's reset from a daily 429, and `day_left`.

Scaled down: configured 500 a day, tiers of 100 (Starter) and 500; the minute never binds."""

from __future__ import annotations

import time

import pytest
import redis

from tests.xero.budgets import Clock, make, take_all
from xerosync.xero.budget import DayLeft, Denial, Permit, RateBudget

TIERS = (100, 500)


def day_budget(budget_redis: redis.Redis, clock: Clock, **limits: object) -> RateBudget:
    settings: dict[str, object] = {
        "day": 500,
        "minute": 100_000,
        "invoice_share": 0.2,
        "day_margin": 2,
        "known_day_limits": TIERS,
    }
    return make(budget_redis, clock, **{**settings, **limits})


def call(budget: RateBudget, priority: str = "routine", **remaining: int) -> None:
    budget.release(budget.acquire("org", priority), **remaining)


def test_a_starter_organisation_is_learned_from_its_first_report(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    assert budget.day_left("org") == DayLeft(500, 0, 500 - 2 - 100, 500 - 2, None)
    call(budget, day_remaining=99)  # Xero: 99 left after our first call: a limit of 100
    left = budget.day_left("org")
    assert (left.limit, left.used) == (100, 1)
    assert left.routine_left == 100 - 2 - 20 - 1 and left.invoice_left == 100 - 2 - 1
    assert budget_redis.get(f"{budget.prefix}:{{org}}:dlimit") == b"100"


def test_routine_stops_at_its_share_of_the_day_and_invoices_go_on_all_day(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    call(budget, day_remaining=99)
    routine = take_all(budget)
    assert len(routine) == 100 - 2 - 20 - 1  # the limit, the margin, the reserve, the first
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "day"
    assert budget.day_left("org").routine_left == 0
    # Hours later in the same day (minute windows long gone) routine work is still held...
    clock.now += 5 * 3600
    assert isinstance(budget.try_acquire("org"), Denial)
    # ...and invoices still get the whole reserve.
    assert budget.day_left("org").invoice_left == 20
    assert len(take_all(budget, "invoice")) == 20
    assert isinstance(budget.try_acquire("org", "invoice"), Denial)
    assert budget.day_left("org") == DayLeft(100, 98, 0, 0, None)


def test_invoices_take_the_reserve_first_so_routine_keeps_its_share(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    call(budget, "invoice", day_remaining=99)
    for _ in range(9):
        call(budget, "invoice")
    assert len(take_all(budget)) == 100 - 2 - 20  # the ten invoices came out of the reserve
    assert len(take_all(budget, "invoice")) == 10


def test_the_day_mirror_lives_for_the_day_not_a_minute(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock, minute_seconds=60.0)
    call(budget, day_remaining=99, min_remaining=59)
    key = f"{budget.prefix}:{{org}}"
    assert budget_redis.pttl(f"{key}:xd") > 60_000 * 60  # the day window (1440 minutes)
    assert budget_redis.pttl(f"{key}:xm") <= 60_000
    assert budget_redis.pttl(f"{key}:dlimit") > 60_000 * 60


def test_a_loose_report_late_in_the_day_still_finds_the_starter_tier(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    for _ in range(80):  # Xero's previous day window: our count still holds these
        call(budget)
    clock.now += 3600  # Xero's day turned over; this is our 6th call of its new day
    call(budget, day_remaining=94)
    # At most 94 + 81 = 175: of the tiers, only 100 is above 94 and within that
    assert budget.day_left("org").limit == 100


def test_a_report_of_more_than_a_tier_left_is_not_taken_for_that_tier(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    """Another deployment on the connection (or a Redis that lost its counts): Xero reports
    fewer left than our count explains. The limit is lowered to what the report proves, never
    to the Starter tier's when more than that is left."""
    budget = day_budget(budget_redis, clock)
    call(budget, day_remaining=300)
    assert budget.day_left("org").limit == 301
    call(budget, day_remaining=120)
    assert budget.day_left("org").limit == 122  # lower still; 100 is below what is left


def test_a_learned_limit_is_not_raised_by_a_later_report(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    call(budget, day_remaining=99)
    call(budget, day_remaining=450)  # cannot describe a limit above 100 today
    assert budget.day_left("org").limit == 100


def test_the_first_call_of_a_starter_day_realigns_our_count(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = day_budget(budget_redis, clock)
    call(budget, day_remaining=99)
    take_all(budget)
    clock.now += 3600
    # Xero's day turned over: its first call reports the limit minus one.
    call(budget, "invoice", day_remaining=99)
    left = budget.day_left("org")
    assert left.used == 1 and left.routine_left == 100 - 2 - 20


def test_a_daily_429_ends_the_day_at_its_retry_after(real_redis: redis.Redis) -> None:
    clock = Clock(time.time())
    budget = day_budget(real_redis, clock)
    call(budget, day_remaining=99)
    take_all(budget)
    take_all(budget, "invoice")
    budget.close("org", 0.4, "day")  # Xero's 429: the day resets in 0.4 s
    key = f"{budget.prefix}:{{org}}"
    for name in ("xd", "xd:inv", "dlimit", "closed"):
        assert 0 < real_redis.pttl(f"{key}:{name}") <= 400
    left = budget.day_left("org")
    assert left.resets_in == pytest.approx(0.4, abs=0.01) and left.limit == 100
    denial = budget.try_acquire("org", "invoice")
    assert isinstance(denial, Denial) and denial.dimension == "closed"

    time.sleep(0.45)  # the reset passes (Redis expires the keys on its own clock)
    clock.now = time.time()
    left = budget.day_left("org")
    assert left.resets_in is None and left.limit == 500
    # Permits again (a call Xero answered without a report, e.g. an outage page)...
    after_reset = budget.try_acquire("org", "invoice")
    assert isinstance(after_reset, Permit)
    budget.release(after_reset)
    clock.now += 0.01
    # ...and the first call of the new day learns the tier again and realigns our count.
    call(budget, day_remaining=99)
    left = budget.day_left("org")
    assert (left.limit, left.used) == (100, 1)
    assert real_redis.exists(f"{key}:xd") == 1


def test_a_minute_429_leaves_the_day_alone(budget_redis: redis.Redis, clock: Clock) -> None:
    budget = day_budget(budget_redis, clock)
    call(budget, day_remaining=99)
    budget.close("org", 30, "minute")
    assert budget.day_left("org").resets_in is None
    assert budget_redis.pttl(f"{budget.prefix}:{{org}}:dlimit") > 30_000
