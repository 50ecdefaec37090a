"""The property tests push many records in a few seconds: Xero's per-minute limit (which the
budget tests cover) is raised here so that it is never what an example runs into."""

from __future__ import annotations

import pytest

from tests.fixtures.xerosync import XerosyncEnv

LIMITS = {"minute_limit": 100_000, "day_limit": 1_000_000, "concurrent_limit": 50}


@pytest.fixture(autouse=True)
def _roomy_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XERO_MINUTE_LIMIT", str(LIMITS["minute_limit"]))
    monkeypatch.setenv("XERO_DAY_LIMIT", str(LIMITS["day_limit"]))
    monkeypatch.setenv("XERO_CONCURRENT_LIMIT", str(LIMITS["concurrent_limit"]))


@pytest.fixture
def env(xerosync_env: XerosyncEnv) -> XerosyncEnv:
    """xerosync and the sandbox, both with room in their limits."""
    xerosync_env.sandbox.control.config(**LIMITS)
    return xerosync_env
