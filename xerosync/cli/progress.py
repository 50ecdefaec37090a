"""Progress of a foreground pass (`xerosync sync`): bars on a terminal, plain lines otherwise.

The import reports each page as `on_page(stream, rows, total)`, where `total` is the rows the
whole read brings when Xero says so (`pagination.itemCount` of a paged response; the row count
of an unpaged one). On a terminal that draws a bar per stream with its total and the time left;
piped or redirected, one plain line per page ("contacts: 300/1,204 (25%), 4 s, about 12 s
left"), since a live display written to a file leaves only its last frame behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from xerosync.cli.words import duration

OnPage = Callable[[str, int, "int | None"], None]


@dataclass
class StreamProgress:
    """What has been read of one stream, and how fast, to say how long the rest takes."""

    name: str
    started: float
    done: int = 0
    total: int | None = None
    pages: int = 0

    def add(self, rows: int, total: int | None) -> None:
        self.done += rows
        self.pages += 1
        if total is not None:
            self.total = max(total, self.done)

    def left_seconds(self, now: float) -> float | None:
        """Time left at the pace so far (None without a total or before the first row)."""
        elapsed = now - self.started
        if self.total is None or self.done <= 0 or elapsed <= 0:
            return None
        return (self.total - self.done) * elapsed / self.done

    def line(self, now: float) -> str:
        """e.g. "contacts: 300/1,204 (25%), 4.0 s, about 12 s left"."""
        elapsed = duration(now - self.started)
        if self.total is None:
            return f"{self.name}: {self.done:,} read, {elapsed}"
        percent = 100 * self.done // self.total if self.total else 100
        text = f"{self.name}: {self.done:,}/{self.total:,} ({percent}%), {elapsed}"
        left = self.left_seconds(now)
        if left is not None and self.done < self.total:
            text += f", about {duration(left)} left"
        return text


@dataclass
class PlainProgress:
    """One line per page, for a log file or a pipe."""

    out: IO[str]
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    started: float = field(init=False)
    last_page_at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def on_page(self, stream: str, rows: int, total: int | None) -> None:
        now = self.clock()
        if stream not in self.streams:
            # A stream starts when the one before it ended (its first page is already read).
            begun = self.last_page_at if self.last_page_at is not None else self.started
            self.streams[stream] = StreamProgress(stream, begun)
        self.streams[stream].add(rows, total)
        self.last_page_at = now
        print(self.streams[stream].line(now), file=self.out, flush=True)


@contextmanager
def pass_progress(console: Console) -> Iterator[OnPage]:
    """An `on_page` for one pass: live bars on a terminal, plain lines when not one."""
    if not console.is_terminal:
        yield PlainProgress(console.file).on_page
        return
    columns = (
        TextColumn("{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {}

        def on_page(stream: str, rows: int, total: int | None) -> None:
            if stream not in tasks:
                tasks[stream] = progress.add_task(stream, total=total)
            task = tasks[stream]
            progress.update(task, advance=rows, total=total)
            if total is not None and progress.tasks[task].completed >= total:
                progress.update(task, total=progress.tasks[task].completed)

        yield on_page
