"""Against the sandbox with its real limits and a time-scaled minute: 2 processes x 4 threads
as fast as the budget allows get no 429, routine work never takes the invoice reserve, and
invoice calls get permits at once; a Starter-tier day (scaled) ends routine work at its share
and leaves invoices the reserve. Counts only; `bench/budget.py` and `bench/day_budget.py`
print the figures."""

from __future__ import annotations

import pytest

from bench import day_budget
from bench.budget import Settings, run
from tests.fixtures.sandbox import Sandbox

pytestmark = pytest.mark.integration


def test_budget_following_clients_get_no_429_and_invoices_always_get_through(
    sandbox: Sandbox, redis_url: str
) -> None:
    settings = Settings(processes=2, threads=4, windows=3, minute_seconds=2.0)
    report = run(settings, sandbox_url=sandbox.url, redis_url=redis_url)

    assert report.routine.errors == []
    assert report.sandbox_429 == 0 and report.routine.xero_429 == 0 and report.invoice_429 == 0
    assert report.invoice_attempts >= settings.windows
    assert report.invoice_granted_at_once == report.invoice_attempts
    assert report.routine.ok > 0 and report.routine.denied.get("minute", 0) > 0
    # Per-window counts depend on where the run's windows fall against the sandbox's, which a
    # loaded machine shifts; the reserve itself is tested with a controlled clock in
    # test_budget.py, and bench/budget.py prints the per-window figures.


def test_a_starter_day_routine_to_its_share_and_the_reserve_to_invoices_after_it(
    sandbox: Sandbox, redis_url: str
) -> None:
    settings = day_budget.Settings(tier_day=100, configured_day=500, threads=3)
    report = day_budget.run(settings, sandbox_url=sandbox.url, redis_url=redis_url)

    assert report.tally.errors == [] and report.sandbox_429 == 0 and report.tally.xero_429 == 0
    assert report.learned.limit == 100
    invoices = report.tally.invoice_before + report.tally.invoice_after
    # Routine work stops at its share; an invoice call made before the budget had Xero's first
    # answer may have taken one of routine's calls rather than the reserve (never the reverse).
    assert report.tally.routine_ok <= day_budget.routine_share(report) == 100 - 2 - 20
    assert report.tally.invoice_after > 0 and invoices >= 20
    assert report.tally.routine_ok + invoices == 100 - 2
    assert report.final.routine_left == 0 and report.final.invoice_left == 0
