"""Settable sandbox behaviour (limits, lifetimes, latency), changed via `/_sandbox/config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class SandboxConfig:
    """Defaults are Xero's published values; tests shrink them (e.g. a one-second minute)."""

    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    app_minute_limit: int = 10000
    minute_seconds: float = 60.0
    day_seconds: float = 86400.0
    access_token_seconds: int = 1800
    refresh_grace_seconds: int = 1800
    refresh_token_days: int = 60
    idempotency_seconds: int = 360
    latency_ms: int = 0
    auth_code_seconds: int = 300
    client_id: str | None = None
    client_secret: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, values: dict[str, Any]) -> None:
        """Apply a partial update; unknown keys or bad types raise ValueError naming the key."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        for key, raw in values.items():
            if key not in known:
                raise ValueError(f"unknown config key {key!r}; known: {', '.join(known)}")
            if key in ("client_id", "client_secret"):
                parsed[key] = None if raw in (None, "") else str(raw)
                continue
            kind = int if known[key].type in ("int", int) else float
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise ValueError(f"config key {key!r} needs a number, got {raw!r}") from None
            if value < 0 or (value == 0 and key not in ("latency_ms",)):
                raise ValueError(f"config key {key!r} must be above 0")
            parsed[key] = value
        for key, value in parsed.items():
            setattr(self, key, value)
