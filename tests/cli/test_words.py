"""Times in words for text output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xerosync.cli.words import ago, duration, until


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.04, "0.0 s"),
        (4.2, "4.2 s"),
        (12.4, "12 s"),
        (185, "3 min 5 s"),
        (1500, "25 min"),
        (7800, "2 h 10 min"),
        (3 * 86400, "3 days"),
    ],
)
def test_duration(seconds: float, words: str) -> None:
    assert duration(seconds) == words


def test_ago_and_until() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert ago(0.3) == "just now"
    assert ago(2.6) == "3 s ago"
    assert ago(600) == "10 min ago"
    assert until(now + timedelta(minutes=4, seconds=10), now) == "in 4 min 10 s"
    assert until(now + timedelta(seconds=0.2), now) == "now"
    assert until(now - timedelta(minutes=2), now) == "overdue by 2 min"
