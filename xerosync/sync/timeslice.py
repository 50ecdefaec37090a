"""A pass's time slice: one organisation's long pass gives its worker process back to others.

A first push of 20,000 customers (or a first import of as many) is minutes of work for one
organisation. Run as one pass, it holds one of the sync processes all that time, and every
other organisation's pass queues behind what is left (bench.many_orgs --backlog 20000: the
others' first passes took 176 s instead of 76 s on two processes). So a routine pass that has
worked `SYNC_PASS_SLICE_SECONDS` stops at the next point where everything it did is committed
(after a page is applied, after a chunk of writes is answered) and sends its continuation to
the back of the sync queue, behind the passes waiting there; it resumes from the cursors and
the outbox, as after a rate limit. The backlog is then worked through slice by slice, in turn
with every other organisation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


class SliceUsed(Exception):
    """The pass used its time slice; its continuation goes behind the passes waiting."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"its time slice ({seconds:g} s) was used; it continues after the other "
            "organisations' waiting passes"
        )
        self.seconds = seconds


@dataclass
class TimeSlice:
    """`check()` raises `SliceUsed` once `seconds` have passed since the slice began."""

    seconds: float
    began: float = field(default_factory=time.monotonic)

    def check(self) -> None:
        if time.monotonic() - self.began >= self.seconds:
            raise SliceUsed(self.seconds)


def check(time_slice: TimeSlice | None) -> None:
    """At a point where everything done is committed: stop here if the slice is used."""
    if time_slice is not None:
        time_slice.check()
