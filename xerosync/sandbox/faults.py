"""Injected faults for the next N matching requests (5xx, slow, dropped, lost response)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("error", "slow", "drop", "lost_response")


@dataclass
class Fault:
    """`drop`: closed with nothing applied; `lost_response`: applied, then closed."""

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 503
    seconds: float = 5.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        kind = str(data.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        known = {"kind", "count", "method", "path", "status", "seconds"}
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
        if fault.count < 1:
            raise ValueError("count must be at least 1")
        return fault

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or path.lower().startswith(self.path.lower())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """The queue of armed faults; the first match is consumed. Callers hold the lock."""

    def __init__(self) -> None:
        self.items: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.items.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.items:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.items.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.items.clear()
