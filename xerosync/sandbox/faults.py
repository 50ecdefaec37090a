"""Injected faults for the next N matching requests (5xx, slow, dropped, lost response), or
for every matching request during the next N seconds (an outage: `for_seconds`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("error", "slow", "drop", "lost_response")


@dataclass
class Fault:
    """`drop`: closed with nothing applied; `lost_response`: applied, then closed.

    With `for_seconds` the fault strikes every matching request until that many seconds have
    passed since it was armed (wall time: moving the sandbox clock does not end it), and
    `count` is not used."""

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 503
    seconds: float = 5.0
    for_seconds: float | None = None
    ends_at: float | None = None
    """`time.monotonic()` when a `for_seconds` fault ends (set when it is armed)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        known = {"kind", "count", "method", "path", "status", "seconds", "for_seconds"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = cls(
            kind=kind,
            count=int(data.get("count", 1)),
            method=str(data["method"]).upper() if data.get("method") else None,
            path=str(data["path"]) if data.get("path") else None,
            status=int(data.get("status", 503)),
            seconds=float(data.get("seconds", 5.0)),
        )
        if data.get("for_seconds") is not None:
            fault.for_seconds = float(data["for_seconds"])
            if fault.for_seconds <= 0:
                raise ValueError("for_seconds must be above 0")
            fault.ends_at = time.monotonic() + fault.for_seconds
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        return fault

    def expired(self, now: float) -> bool:
        return self.ends_at is not None and now >= self.ends_at

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or path.lower().startswith(self.path.lower())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        ends_at = data.pop("ends_at")
        if ends_at is not None:
            data["seconds_left"] = round(max(0.0, ends_at - time.monotonic()), 3)
        return data


class Faults:
    """The queue of armed faults; the first match is consumed. Callers hold the lock."""

    def __init__(self) -> None:
        self.items: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.items.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.active():
            if fault.matches(method, path):
                if fault.ends_at is None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.items.remove(fault)
                return fault
        return None

    def active(self) -> list[Fault]:
        """The armed faults, after dropping outages whose time has passed."""
        now = time.monotonic()
        self.items[:] = [f for f in self.items if not f.expired(now)]
        return list(self.items)

    def clear(self) -> None:
        self.items.clear()
