"""`xerosync sync`'s progress: totals from Xero's paging, time left, plain lines off a terminal."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.cli import main
from xerosync.cli.progress import PlainProgress, pass_progress
from xerosync.sync import jobs


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_say_the_total_and_the_time_left() -> None:
    out, clock = io.StringIO(), Clock()
    progress = PlainProgress(out, clock=clock)
    clock.now += 4
    progress.on_page("contacts", 300, 1204)
    clock.now += 4
    progress.on_page("contacts", 300, 1204)
    clock.now += 1
    progress.on_page("items", 52, 52)  # unpaged: one page holding them all
    clock.now += 2
    progress.on_page("invoices", 100, None)  # no total given: a count, no guess
    assert out.getvalue().splitlines() == [
        "contacts: 300/1,204 (24%), 4.0 s, about 12 s left",
        "contacts: 600/1,204 (49%), 8.0 s, about 8.1 s left",
        "items: 52/52 (100%), 1.0 s",
        "invoices: 100 read, 2.0 s",
    ]


def test_a_total_smaller_than_what_came_is_raised_to_it() -> None:
    out = io.StringIO()
    progress = PlainProgress(out, clock=Clock())
    progress.on_page("contacts", 12, 10)  # a record changed between pages
    assert out.getvalue().startswith("contacts: 12/12 (100%)")


def test_a_terminal_gets_bars_with_totals() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with pass_progress(console) as on_page:
        on_page("contacts", 300, 1204)
        on_page("contacts", 904, 1204)
    drawn = screen.getvalue()
    assert "1204/1204" in drawn and "contacts" in drawn
    assert "━" in drawn  # a bar, not a spinner and a count


@pytest.mark.integration
def test_a_pass_passes_xeros_item_count_to_the_progress(xerosync_env: XerosyncEnv) -> None:
    seen: list[tuple[str, int, int | None]] = []
    result = jobs.routine_pass_for(
        xerosync_env.connection_id, on_page=lambda *page: seen.append(page)
    )
    assert result.status == "ok"
    contacts = len(xerosync_env.contacts())
    assert ("contacts", contacts, contacts) in seen
    assert all(total is not None and total >= rows for _, rows, total in seen)


@pytest.mark.integration
def test_sync_without_a_terminal_prints_plain_lines(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    contacts = len(xerosync_env.contacts())
    assert f"contacts: {contacts}/{contacts} (100%)" in out
    assert not any(ch in out for ch in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏━")  # no spinner frame, no bar
    assert "pass ok" in out
