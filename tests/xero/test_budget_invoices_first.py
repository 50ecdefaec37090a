"""Invoices first, beyond their reserve: while an invoice call waits, routine work takes nothing.

The reserve alone is a floor: with more confirmations than it holds, invoices competed with
routine calls for the rest of the minute and waited (bench.many_orgs --app-limit 300: p99
88 s). The hold makes whatever frees up go to the waiting invoices.
"""

from __future__ import annotations

import pytest
import redis

from tests.xero.budgets import Clock, make, take_all
from xerosync.xero.budget import Denial, Permit, RateBudget, app_limits


def test_a_refused_invoice_holds_routine_work_until_it_is_served(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=10, minute_seconds=10.0, invoice_hold_seconds=2.0)
    clock.now = 1000.0
    assert len(take_all(budget)) == 10 - 2 - 1  # routine to the reserve
    assert len(take_all(budget, "invoice")) == 2  # the reserve (the margin is never spent)
    refused = budget.try_acquire("org", "invoice")
    assert isinstance(refused, Denial) and refused.dimension == "minute"
    assert refused.retry_after == pytest.approx(10.0)
    # The window opens again at 1010.0: routine work, coming back first, is held...
    clock.now = 1010.0
    held = budget.try_acquire("org")
    assert isinstance(held, Denial) and held.dimension == "invoices"
    # ...for the invoice's wait with its jitter and the hold (12 s + 2 s from 1000.0)
    assert held.retry_after == pytest.approx(4.0)
    # and the invoice, retried, takes the freed minute
    assert isinstance(budget.try_acquire("org", "invoice"), Permit)
    clock.now = 1014.0
    assert isinstance(budget.try_acquire("org"), Permit)


def test_the_hold_never_outlasts_a_minute_window(budget_redis: redis.Redis, clock: Clock) -> None:
    budget = make(budget_redis, clock, minute=5, minute_seconds=10.0, invoice_hold_seconds=30.0)
    clock.now = 1000.0
    take_all(budget, "invoice")
    assert isinstance(budget.try_acquire("org", "invoice"), Denial)
    clock.now = 1019.99  # the invoice's wait (10 s), then at most one window
    assert isinstance(budget.try_acquire("org"), Denial)
    clock.now = 1020.0
    assert isinstance(budget.try_acquire("org"), Permit)


def test_an_invoice_waiting_for_a_slot_holds_routine_work_too(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, concurrent=2, invoice_share=0.5, invoice_hold_seconds=1.0)
    clock.now = 1000.0
    in_flight = [budget.acquire("org", "invoice"), budget.acquire("org")]
    refused = budget.try_acquire("org", "invoice")
    assert isinstance(refused, Denial) and refused.dimension == "concurrent"
    for permit in in_flight:
        budget.release(permit)
    held = budget.try_acquire("org")
    assert isinstance(held, Denial) and held.dimension == "invoices"
    assert isinstance(budget.try_acquire("org", "invoice"), Permit)


def test_no_hold_without_a_waiting_invoice_nor_when_turned_off(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    budget = make(budget_redis, clock, minute=10, minute_seconds=10.0, invoice_hold_seconds=2.0)
    clock.now = 1000.0
    take_all(budget)  # routine refused: no invoice waits, nothing is held
    clock.now = 1010.0
    assert isinstance(budget.try_acquire("org"), Permit)
    off = make(budget_redis, clock, minute=10, minute_seconds=10.0, invoice_hold_seconds=0.0)
    take_all(off, "invoice")
    assert isinstance(off.try_acquire("org", "invoice"), Denial)
    assert isinstance(off.try_acquire("org"), Denial)  # the minute, not a hold
    clock.now = 1020.0
    assert isinstance(off.try_acquire("org"), Permit)


def test_on_the_apps_budget_one_organisations_invoice_holds_every_routine_call(
    budget_redis: redis.Redis, clock: Clock
) -> None:
    app = RateBudget(
        budget_redis, app_limits(100, minute_seconds=10.0), prefix="t:app", clock=clock
    )
    clock.now = 1000.0
    while isinstance(granted := app.try_acquire("app", "routine"), Permit):
        app.release(granted)
    while isinstance(granted := app.try_acquire("app", "invoice"), Permit):
        app.release(granted)
    assert isinstance(app.try_acquire("app", "invoice"), Denial)
    clock.now = 1010.0
    held = app.try_acquire("app", "routine")
    assert isinstance(held, Denial) and held.dimension == "invoices"
    assert isinstance(app.try_acquire("app", "invoice"), Permit)


def test_the_refusal_says_that_invoices_go_first() -> None:
    from xerosync.xero.errors import BudgetExhausted

    held = BudgetExhausted(dimension="appinvoices", retry_after=1.5)
    assert str(held).startswith("routine work waits while invoices take the app's budget")
    assert held.retryable and held.retry_after == 1.5
