"""Settable sandbox behaviour (limits, lifetimes, latency, the app's age and its custom
connection's scopes), changed via `/_sandbox/config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from typing import Any

GRANULAR_ONLY_SINCE = date(2026, 3, 2)
"""Xero apps created on or after this day get only granular scopes (XERO_FACTS §3)."""

_TEXT_KEYS = ("client_id", "client_secret")

TIER_DAY_LIMITS = {"starter": 1000, "core": 5000, "plus": 5000, "advanced": 5000}
"""Calls per day per connection on each Xero developer tier since 2 March 2026 (XERO_FACTS
§2, D14): Starter 1,000, every other tier 5,000. Enterprise is not listed (its limits are
agreed per contract)."""


@dataclass
class SandboxConfig:
    """Defaults are Xero's published values; tests shrink them (e.g. a one-second minute)."""

    minute_limit: int = 60
    day_limit: int = 5000
    tier: str | None = None
    """Xero developer tier (`starter`, `core`, `plus`, `advanced`): setting it sets
    `day_limit` to the tier's (unless `day_limit` is given in the same update, which wins).
    None: no tier chosen, `day_limit` as given (default 5,000: every tier but Starter)."""
    concurrent_limit: int = 5
    app_minute_limit: int = 10000
    minute_seconds: float = 60.0
    day_seconds: float = 86400.0
    access_token_seconds: int = 1800
    refresh_grace_seconds: int = 1800
    refresh_token_days: int = 60
    idempotency_seconds: int = 360
    latency_ms: int = 0
    gzip_min_bytes: int = 1024
    """Responses of this many bytes or more are gzipped for a client that accepts gzip
    (0: never). Xero negotiates the encoding; its threshold is unconfirmed."""
    max_request_bytes: int = 3_500_000
    """A larger request body is refused with 413 (XERO_FACTS §5: design for 3.5 MB; the
    stricter decimal reading of "3.5 MB")."""
    auth_code_seconds: int = 300
    client_id: str | None = None
    client_secret: str | None = None
    app_created: str = GRANULAR_ONLY_SINCE.isoformat()
    """When the Xero app was created (ISO date). On or after 2026-03-02 (the default) it is a
    *new* app: the deprecated broad scopes are refused. Earlier: an older app, which may
    still ask for them."""
    custom_connection_scopes: str = "accounting.contacts accounting.settings accounting.invoices"
    """The scopes the organisation authorised for the app's custom connection
    (client_credentials); a token request may ask for these or fewer."""

    @property
    def new_app(self) -> bool:
        return date.fromisoformat(self.app_created) >= GRANULAR_ONLY_SINCE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, values: dict[str, Any]) -> None:
        """Apply a partial update; unknown keys or bad types raise ValueError naming the key."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        if "tier" in values:
            tier = values["tier"]
            if tier in (None, ""):
                parsed["tier"] = None
            elif str(tier).lower() not in TIER_DAY_LIMITS:
                raise ValueError(
                    f"config key 'tier' needs one of {', '.join(TIER_DAY_LIMITS)}, got {tier!r}"
                )
            else:
                parsed["tier"] = str(tier).lower()
                parsed["day_limit"] = TIER_DAY_LIMITS[parsed["tier"]]
        for key, raw in values.items():
            if key == "tier":
                continue
            if key not in known:
                raise ValueError(f"unknown config key {key!r}; known: {', '.join(known)}")
            if key in _TEXT_KEYS:
                parsed[key] = None if raw in (None, "") else str(raw)
                continue
            if key == "app_created":
                try:
                    parsed[key] = date.fromisoformat(str(raw)).isoformat()
                except ValueError:
                    raise ValueError(
                        f"config key 'app_created' needs an ISO date such as 2025-06-01, "
                        f"got {raw!r}"
                    ) from None
                continue
            if key == "custom_connection_scopes":
                scopes = raw.split() if isinstance(raw, str) else raw
                if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
                    raise ValueError(
                        "config key 'custom_connection_scopes' needs space-separated scopes"
                    )
                from xerosync.sandbox.identity import known_scope

                unknown = [x for x in scopes if not known_scope(x)]
                if unknown:
                    raise ValueError(f"config key 'custom_connection_scopes': unknown {unknown}")
                parsed[key] = " ".join(dict.fromkeys(scopes))
                continue
            kind = int if known[key].type in ("int", int) else float
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise ValueError(f"config key {key!r} needs a number, got {raw!r}") from None
            if value < 0 or (value == 0 and key not in ("latency_ms", "gzip_min_bytes")):
                raise ValueError(f"config key {key!r} must be above 0")
            parsed[key] = value
        for key, value in parsed.items():
            setattr(self, key, value)
