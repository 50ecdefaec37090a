"""Against the sandbox with its real limits and a time-scaled minute: 2 processes x 4 threads
as fast as the budget allows get no 429, routine work never takes the invoice reserve, and
invoice calls get permits at once. Counts only; `bench/budget.py` prints the utilisation."""

from __future__ import annotations

import pytest

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
