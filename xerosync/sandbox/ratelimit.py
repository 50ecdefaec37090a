"""Xero's rate limits: per-connection minute and day windows, calls in flight, and app minute.

A connection is one app and one organisation (XERO_FACTS §2: "limits are per connection: two
orgs on one app each get their own 5,000/day"), so the minute, day and concurrent limits are
kept per (app, tenant); the app minute limit (10,000) counts every call of one app across all
its tenants. Windows are fixed (not rolling): a window opens with the first call after the
previous one closed, so each connection's windows reset at their own times, as Xero's do. A
rejected call does not count. `X-Rate-Limit-Problem` is `minute` or `day` as Xero sends them;
`appminute` and `concurrent` are the sandbox's choice (Xero's values for those are
unconfirmed), and a concurrent breach carries `Retry-After: 1`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xerosync.sandbox.config import SandboxConfig


@dataclass
class _Window:
    start: float = -math.inf
    count: int = 0

    def roll(self, now: float, length: float) -> None:
        if now >= self.start + length:
            self.start = now
            self.count = 0

    def retry_after(self, now: float, length: float) -> int:
        return max(1, math.ceil(self.start + length - now))


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    problem: str | None = None


class RateLimiter:
    """Callers hold the sandbox lock; `release()` must follow every allowed `acquire()`."""

    def __init__(self) -> None:
        self.minute: dict[tuple[str, str], _Window] = {}
        self.day: dict[tuple[str, str], _Window] = {}
        self.app_minute: dict[str, _Window] = {}
        self.in_flight: dict[tuple[str, str], int] = {}

    def acquire(self, tenant_id: str, app_id: str, now: float, config: SandboxConfig) -> Decision:
        connection = (app_id, tenant_id)
        minute = self.minute.setdefault(connection, _Window())
        day = self.day.setdefault(connection, _Window())
        app = self.app_minute.setdefault(app_id, _Window())
        minute.roll(now, config.minute_seconds)
        day.roll(now, config.day_seconds)
        app.roll(now, config.minute_seconds)

        def headers(extra: int) -> dict[str, str]:
            return {
                "X-DayLimit-Remaining": str(max(0, config.day_limit - day.count - extra)),
                "X-MinLimit-Remaining": str(max(0, config.minute_limit - minute.count - extra)),
                "X-AppMinLimit-Remaining": str(max(0, config.app_minute_limit - app.count - extra)),
            }

        problem: str | None = None
        retry = 1
        if day.count >= config.day_limit:
            problem, retry = "day", day.retry_after(now, config.day_seconds)
        elif minute.count >= config.minute_limit:
            problem, retry = "minute", minute.retry_after(now, config.minute_seconds)
        elif app.count >= config.app_minute_limit:
            problem, retry = "appminute", app.retry_after(now, config.minute_seconds)
        elif self.in_flight.get(connection, 0) >= config.concurrent_limit:
            problem, retry = "concurrent", 1
        if problem is not None:
            h = headers(0)
            h["X-Rate-Limit-Problem"] = problem
            h["Retry-After"] = str(retry)
            return Decision(False, h, problem)
        day.count += 1
        minute.count += 1
        app.count += 1
        self.in_flight[connection] = self.in_flight.get(connection, 0) + 1
        return Decision(True, headers(0))

    def release(self, tenant_id: str, app_id: str) -> None:
        connection = (app_id, tenant_id)
        self.in_flight[connection] = max(0, self.in_flight.get(connection, 0) - 1)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]
