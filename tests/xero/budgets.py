"""Helpers for the budget's tests: a controlled clock, a budget on it, taking every permit."""

from __future__ import annotations

import redis

from xerosync.xero.budget import BudgetLimits, Permit, RateBudget


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def make(budget_redis: redis.Redis, clock: Clock, **limits: object) -> RateBudget:
    """A budget on `clock`. Invoices' hold on routine work is off unless asked for
    (`invoice_hold_seconds`): these tests take every invoice permit to the refusal, which
    would hold routine work; `test_budget_invoices_first.py` tests the hold itself."""
    limits.setdefault("invoice_hold_seconds", 0.0)
    return RateBudget(budget_redis, BudgetLimits(**limits), clock=clock)  # type: ignore[arg-type]


def take_all(
    budget: RateBudget, priority: str = "routine", release: bool = True, **remaining: int
) -> list[Permit]:
    """Every permit `priority` can get now (each released at once unless `release` is False,
    with `remaining` as the headers of its answer)."""
    granted = []
    while isinstance(outcome := budget.try_acquire("org", priority), Permit):
        granted.append(outcome)
        if release:
            budget.release(outcome, **remaining)  # type: ignore[arg-type]
    return granted
