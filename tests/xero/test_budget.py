"""The shared budget's Lua logic, on fakeredis (the unit tests) and on a real Redis."""

from __future__ import annotations

import threading

import pytest
import redis

from tests.xero.budgets import Clock, make, take_all
from xerosync.xero.budget import BudgetLimits, Denial, Permit, RateBudget
from xerosync.xero.errors import BudgetExhausted


def test_routine_stops_at_the_reserve_and_margin_invoice_goes_on(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=60, concurrent=5)
    assert budget.limits.routine_minute == 60 - 12 - 1
    assert len(take_all(budget)) == 47
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "minute"
    assert 0 < denial.retry_after <= 60
    assert len(take_all(budget, "invoice")) == 12
    assert isinstance(budget.try_acquire("org", "invoice"), Denial)


def test_invoice_calls_use_the_reserve_not_routines_share(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=60)
    for _ in range(12):
        budget.release(budget.acquire("org", "invoice"))
    assert len(take_all(budget)) == 47
    # and the same when Xero's count (the mirror) is what decides
    clock.now += 60
    budget.release(budget.acquire("org", "invoice"), min_remaining=59)
    for _ in range(5):
        budget.release(budget.acquire("org", "invoice"))
    assert len(take_all(budget)) == 60 - 6 - 1 - (12 - 6)
    assert len(take_all(budget, "invoice")) == 6


def test_calls_count_for_one_window_after_they_end_and_the_denial_says_when(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    # Not a local fixed window: Xero's windows open when Xero decides, so a call counts until
    # one window after it ended, whichever of Xero's windows it fell in.
    budget = make(budget_redis, clock, minute=10, minute_seconds=2.0, invoice_share=0.0)
    clock.now = 1000.5
    assert len(take_all(budget)) == 9
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.retry_after == pytest.approx(2.0)
    clock.now += 1.99  # an epoch-aligned window would have reopened at 1002.0
    assert isinstance(budget.try_acquire("org"), Denial)
    clock.now = 1002.5
    assert len(take_all(budget)) == 9


def test_a_report_cannot_open_more_than_our_own_count_allows(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    """Issue 12: a report from Xero's next window moved the mirror on but not its lapse; when
    it lapsed inside that window, a local window that had just turned over let calls through.
    Our own count of the last window refuses them whatever the mirror did."""
    budget = make(budget_redis, clock, minute=10, minute_seconds=4.0, invoice_share=0.2)
    clock.now = 1003.0
    first = budget.acquire("org")
    clock.now = 1004.5  # a slow answer: the mirror lives from here to 1008.5
    budget.release(first, min_remaining=9)
    clock.now = 1007.3  # Xero's window of 1003.0 is over; this call opens the next one
    opener = budget.acquire("org")
    budget.release(opener, min_remaining=9)  # newer: the mirror moves on, lapse unchanged
    spent = take_all(budget) + take_all(budget, "invoice")
    # The opener said Xero counts it alone: `first` is out of Xero's window, and of ours.
    assert len(spent) == 6 + 2  # routine to its share, invoices to the margin
    clock.now = 1008.8  # the mirror has lapsed inside the window opened at 1007.3
    budget_redis.delete(f"{budget.prefix}:{{org}}:xm")  # Redis's clock, not the test's, expires it
    # That window holds 9 calls: the margin is all that is left. (An epoch-aligned local
    # window, new since 1008.0, would have let 7 routine calls and 2 invoices through.)
    denial = budget.try_acquire("org", "invoice")
    assert isinstance(denial, Denial) and denial.dimension == "minute"
    assert denial.retry_after == pytest.approx(1007.3 + 4.0 - 1008.8)
    assert isinstance(budget.try_acquire("org"), Denial)
    clock.now += denial.retry_after
    assert isinstance(budget.try_acquire("org"), Permit)


def test_a_report_of_room_cannot_open_more_than_our_own_count(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=10, invoice_share=0.0)
    for _ in range(5):
        budget.release(budget.acquire("org"))
    # Xero reports 5 left: its window holds 5 calls, which ones of ours we cannot tell.
    budget.release(budget.acquire("org"), min_remaining=5)
    assert len(take_all(budget)) == 4 - 1  # our count: 6 of 9; the mirror would allow 4
    # A report of less room than our count does refuse more (calls our count does not hold).
    clock.now += 60
    budget.release(budget.acquire("org"), min_remaining=3)
    assert len(take_all(budget)) == 2  # 3 left, 1 never spent


def test_the_first_call_of_xeros_window_drops_the_calls_before_it(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=10, invoice_share=0.0)
    start = clock.now
    for offset in (0, 20, 40):
        clock.now = start + offset
        for _ in range(3):
            budget.release(budget.acquire("org"))
    clock.now = start + 60  # the first three have left our count: three permits are open
    assert budget.snapshot("org")["minute_used"] == 6
    opener = budget.acquire("org")
    held = budget.acquire("org")  # in flight while the opener's answer arrives
    # Xero counts the opener alone: its window began after the calls of +20 and +40 s ended.
    budget.release(opener, min_remaining=9)
    assert budget.snapshot("org")["minute_used"] == 2
    assert len(take_all(budget)) == 9 - 2
    budget.release(held)


def test_a_lapsed_lease_counts_as_a_call_made_when_it_lapsed(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=4, concurrent=5, invoice_share=0.0, lease_seconds=30)
    held = [budget.acquire("org") for _ in range(3)]  # a worker dies holding them
    assert isinstance(budget.try_acquire("org"), Denial)
    clock.now += 31  # the leases lapse: the calls may have reached Xero until now
    assert budget.snapshot("org")["in_flight"] == 0
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "minute"
    assert denial.retry_after == pytest.approx(60 - 1)
    budget.release(held[0])  # the dead worker's late release counts nothing twice
    clock.now += denial.retry_after
    assert len(take_all(budget)) == 3


def test_organisations_have_separate_budgets(budget_redis: redis.Redis, clock: Clock) -> None:
    budget = make(budget_redis, clock, minute=5, invoice_share=0.0)
    assert len(take_all(budget)) == 4
    assert isinstance(budget.try_acquire("other"), Permit)


def test_in_flight_is_capped_and_returned_on_release(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, concurrent=5)
    held = take_all(budget, release=False)
    assert len(held) == 4  # one in-flight slot is the invoice share
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "concurrent"
    invoice = budget.try_acquire("org", "invoice")
    assert isinstance(invoice, Permit)
    budget.release(held[0])
    budget.release(held[0])  # twice is harmless
    assert isinstance(budget.try_acquire("org"), Permit)  # routine's own 4 slots again
    assert isinstance(budget.try_acquire("org", "invoice"), Denial)  # all 5 in flight
    budget.release(invoice)


def test_a_crashed_workers_lease_lapses(budget_redis: redis.Redis, clock: Clock) -> None:
    budget = make(budget_redis, clock, concurrent=2, invoice_share=0.0, lease_seconds=30)
    assert len(take_all(budget, release=False)) == 2
    clock.now += 31
    assert isinstance(budget.try_acquire("org"), Permit)


def test_headers_lower_the_budget_never_raise_it_from_old_news(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=60, invoice_share=0.0)
    first = budget.acquire("org")
    second = budget.acquire("org")
    # Xero says only 5 left (other apps used the rest): 1 permit after `second` counts against it.
    budget.release(second, min_remaining=5)
    assert budget.snapshot("org")["xero_minute_remaining"] == 5
    # An older response reporting more must not raise it.
    budget.release(first, min_remaining=40)
    assert budget.snapshot("org")["xero_minute_remaining"] == 5
    assert len(take_all(budget)) == 4  # 5 left minus the margin of 1
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "minute"


def test_newer_report_after_xero_reset_raises_the_mirror(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=60, invoice_share=0.0)
    p = budget.acquire("org")
    budget.release(p, min_remaining=3)
    q = budget.acquire("org")
    budget.release(q, min_remaining=58)  # newer than the last report: Xero's window reset
    assert budget.snapshot("org")["xero_minute_remaining"] == 58


def test_day_header_and_day_window(budget_redis: redis.Redis, clock: Clock) -> None:
    # Xero's report of 1,103 left after 1 of our calls: the limit is at most 1,104, below the
    # configured 5,000 and no tier's (test_budget_day.py): the day's reserve is 10% of 1,104.
    budget = make(budget_redis, clock, day=5000, minute=10_000, invoice_share=0.1, day_margin=2)
    p = budget.acquire("org")
    budget.release(p, day_remaining=1103)
    assert budget.day_left("org").limit == 1104
    granted = take_all(budget)
    assert len(granted) == 1103 - 111 - 2
    denial = budget.try_acquire("org")
    assert isinstance(denial, Denial) and denial.dimension == "day"


def test_close_after_429_stops_everyone_until_retry_after(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock)
    budget.close("org", 7.5, "minute")
    for priority in ("routine", "invoice"):
        with pytest.raises(BudgetExhausted) as info:
            budget.acquire("org", priority)
        assert info.value.dimension == "closed" and info.value.limit == "budget"
        assert 7 < (info.value.retry_after or 0) <= 7.5
    budget.close("org", 1.0)  # a shorter close does not shorten it
    assert budget.snapshot("org")["closed_for"] > 7


def test_context_manager_releases_on_error(budget_redis: redis.Redis, clock: Clock) -> None:
    budget = make(budget_redis, clock, concurrent=1, invoice_share=0.0)
    with pytest.raises(RuntimeError), budget.permit("org"):
        raise RuntimeError("boom")
    assert budget.snapshot("org")["in_flight"] == 0


def test_atomic_under_threads(redis_url: str) -> None:
    budget = RateBudget(redis.Redis.from_url(redis_url), BudgetLimits(minute=60))
    granted: list[Permit] = []
    lock = threading.Lock()

    def worker() -> None:
        local = RateBudget(redis.Redis.from_url(redis_url), budget.limits)
        while isinstance(outcome := local.try_acquire("org"), Permit) or outcome.dimension == (
            "concurrent"
        ):
            if isinstance(outcome, Permit):
                with lock:
                    granted.append(outcome)
                local.release(outcome)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Unless the minute window rolled over mid-test, exactly the routine share was granted.
    assert len(granted) in (47, 94)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        BudgetLimits(invoice_share=1.0)
    with pytest.raises(ValueError):
        BudgetLimits(concurrent=1, invoice_share=0.5)
    with pytest.raises(ValueError):
        BudgetLimits(known_day_limits=(1000, 0))
