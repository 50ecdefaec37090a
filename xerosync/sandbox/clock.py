"""The sandbox clock: wall time plus an offset that tests can move forward.

Everything time-dependent (token expiry, rate windows, idempotency expiry, UpdatedDateUTC)
reads this clock, so a test can "wait" thirty minutes without sleeping.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time shifted by a settable offset (seconds)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def set_offset(self, offset: float) -> None:
        with self._lock:
            self._offset = offset
