"""The one place that reads configuration.

Values come from the process environment, then from an optional `.env` file in the working
directory (the environment wins). Every setting is parsed and checked when `load_settings()`
runs, so a bad value stops start-up with a message naming the setting instead of failing
later inside a task.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from xerosync import redaction

log = logging.getLogger(__name__)

SANDBOX_URL = "http://127.0.0.1:8765"
"""Where `xerosync sandbox` listens by default: the embedded Xero."""

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes:
            raise ValueError(f"expected a URL starting with one of {', '.join(schemes)}")
        return raw.rstrip("/") if parts.scheme.startswith("http") else raw

    return parse


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a whole number above 0")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("expected a number above 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError("expected a number, 0 or more")
    return value


def _share(raw: str) -> float:
    value = float(raw)
    if not 0 <= value < 1:
        raise ValueError("expected a fraction from 0 up to (not including) 1")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _text(raw: str) -> str:
    return raw.strip()


def _optional_text(raw: str) -> str | None:
    return raw.strip() or None


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _order_url(raw: str) -> str:
    if "{order_id}" not in raw:
        raise ValueError("expected a URL containing {order_id}")
    _url(("http", "https"))(raw.replace("{order_id}", "1"))
    return raw.strip()


@dataclass(frozen=True)
class Settings:
    """Every setting xerosync reads, already parsed. Field names are the variable names."""

    DATABASE_URL: str
    REDIS_URL: str
    CELERY_BROKER_URL: str
    BROKER_VISIBILITY_TIMEOUT: int
    SYNC_INTERVAL_SECONDS: int
    SYNC_IDLE_MAX_INTERVAL_SECONDS: int
    SYNC_PASS_SLICE_SECONDS: float
    SYNC_PASS_LEASE_SECONDS: float

    XERO_BASE_URL: str
    XERO_IDENTITY_URL: str
    XERO_LOGIN_URL: str
    XERO_CLIENT_ID: str
    XERO_CLIENT_SECRET: str
    XERO_REDIRECT_URI: str
    XERO_SCOPES: str
    TOKEN_ENCRYPTION_KEY: str | None

    XERO_MINUTE_LIMIT: int
    XERO_DAY_LIMIT: int
    XERO_APP_MINUTE_LIMIT: int
    XERO_CONCURRENT_LIMIT: int
    XERO_MINUTE_SECONDS: float
    INVOICE_RESERVED_SHARE: float
    XERO_TIMEOUT_SECONDS: float
    PASS_WRITES_IN_FLIGHT: int

    DELIVERY_ACCOUNT_CODE: str
    DELIVERY_TAX_TYPE: str
    DELIVERY_ITEM_CODE: str | None
    DELIVERY_DESCRIPTION: str
    CRM_ORDER_URL: str

    SANDBOX_HOST: str
    SANDBOX_PORT: int
    SANDBOX_STATE_FILE: str | None
    SANDBOX_CLIENT_ID: str | None
    SANDBOX_CLIENT_SECRET: str | None
    SANDBOX_WEBHOOK_URL: str | None

    XERO_WEBHOOK_KEY: str | None
    WEBHOOK_HOST: str
    WEBHOOK_PORT: int
    WEBHOOK_MAX_BODY_BYTES: int
    WEBHOOK_COVERED_POLL_SECONDS: int

    FLOWER_PORT: int
    FLOWER_USER: str
    FLOWER_PASSWORD: str

    SENTRY_DSN: str | None
    SENTRY_ENVIRONMENT: str
    LOG_LEVEL: str

    @property
    def uses_sandbox(self) -> bool:
        """True when the Xero base URL is a loopback address (the embedded sandbox)."""
        host = urlsplit(self.XERO_BASE_URL).hostname or ""
        return host in {"127.0.0.1", "localhost", "::1"} or host.startswith("127.")

    @property
    def xero_api_url(self) -> str:
        return f"{self.XERO_BASE_URL}/api.xro/2.0"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def masked(self) -> dict[str, Any]:
        """Every setting as a person may see it: secrets masked, URLs without passwords."""
        return {name: redaction.mask_setting(name, value) for name, value in self.as_dict().items()}

    def __repr__(self) -> str:
        """Masked: a Settings object lands in log lines and in Sentry's frame locals."""
        shown = ", ".join(f"{name}={value!r}" for name, value in self.masked().items())
        return f"Settings({shown})"

    __str__ = __repr__


# name -> (parser, default); a default of None means "not set", and the parser is not run.
_SPEC: dict[str, tuple[Callable[[str], Any], str | None]] = {
    "DATABASE_URL": (
        _url(("sqlite", "postgresql", "postgresql+psycopg")),
        "sqlite:///var/xerosync.db",
    ),
    "REDIS_URL": (_url(("redis", "rediss", "unix")), "redis://127.0.0.1:6379/0"),
    "CELERY_BROKER_URL": (_url(("redis", "rediss", "amqp", "pyamqp", "memory")), ""),
    "BROKER_VISIBILITY_TIMEOUT": (_positive_int, "3600"),
    "SYNC_INTERVAL_SECONDS": (_positive_int, "300"),
    "SYNC_IDLE_MAX_INTERVAL_SECONDS": (_positive_int, "1800"),
    "SYNC_PASS_SLICE_SECONDS": (_non_negative_float, "20"),
    "SYNC_PASS_LEASE_SECONDS": (_positive_float, "30"),
    "XERO_BASE_URL": (_url(("http", "https")), SANDBOX_URL),
    "XERO_IDENTITY_URL": (_url(("http", "https")), ""),
    "XERO_LOGIN_URL": (_url(("http", "https")), ""),
    "XERO_CLIENT_ID": (_text, "sandbox-client"),
    "XERO_CLIENT_SECRET": (_text, "sandbox-secret"),
    "XERO_REDIRECT_URI": (_url(("http", "https")), "http://localhost:8766/callback"),
    "XERO_SCOPES": (
        _text,
        "openid profile email offline_access accounting.contacts accounting.settings "
        "accounting.invoices",
    ),
    "TOKEN_ENCRYPTION_KEY": (_optional_text, None),
    "XERO_MINUTE_LIMIT": (_positive_int, "60"),
    "XERO_DAY_LIMIT": (_positive_int, "5000"),
    "XERO_APP_MINUTE_LIMIT": (_positive_int, "10000"),
    "XERO_CONCURRENT_LIMIT": (_positive_int, "5"),
    "XERO_MINUTE_SECONDS": (_positive_float, "60"),
    "INVOICE_RESERVED_SHARE": (_share, "0.2"),
    "XERO_TIMEOUT_SECONDS": (_positive_float, "30"),
    "PASS_WRITES_IN_FLIGHT": (_positive_int, "3"),
    "DELIVERY_ACCOUNT_CODE": (_text, "200"),
    "DELIVERY_TAX_TYPE": (_text, "OUTPUT"),
    "DELIVERY_ITEM_CODE": (_optional_text, None),
    "DELIVERY_DESCRIPTION": (_text, "Delivery"),
    "CRM_ORDER_URL": (_order_url, "http://localhost/crm/orders/{order_id}"),
    "SANDBOX_HOST": (_text, "127.0.0.1"),
    "SANDBOX_PORT": (_port, "8765"),
    "SANDBOX_STATE_FILE": (_optional_text, None),
    "SANDBOX_CLIENT_ID": (_optional_text, None),
    "SANDBOX_CLIENT_SECRET": (_optional_text, None),
    "SANDBOX_WEBHOOK_URL": (_optional_text, None),
    "XERO_WEBHOOK_KEY": (_optional_text, None),
    "WEBHOOK_HOST": (_text, "127.0.0.1"),
    "WEBHOOK_PORT": (_port, "8767"),
    "WEBHOOK_MAX_BODY_BYTES": (_positive_int, "1048576"),
    "WEBHOOK_COVERED_POLL_SECONDS": (_non_negative_int, "0"),
    "FLOWER_PORT": (_port, "5555"),
    "FLOWER_USER": (_text, "admin"),
    "FLOWER_PASSWORD": (_text, "xerosync"),
    "SENTRY_DSN": (_optional_text, None),
    "SENTRY_ENVIRONMENT": (_text, "development"),
    "LOG_LEVEL": (_log_level, "INFO"),
}

# Settings whose empty default means "same as another setting".
_FALLBACKS = {
    "CELERY_BROKER_URL": "REDIS_URL",
    "XERO_IDENTITY_URL": "XERO_BASE_URL",
    "XERO_LOGIN_URL": "XERO_BASE_URL",
}


def _parse_one(name: str, raw: str, parser: Callable[[str], T]) -> T:
    try:
        return parser(raw)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"setting {name}={raw!r} is not valid: {exc}") from None


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad one."""
    source: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(os.environ if environ is None else environ)

    values: dict[str, Any] = {}
    for name, (parser, default) in _SPEC.items():
        raw = source.get(name)
        if raw is None or (raw.strip() == "" and name in _FALLBACKS):
            raw = default
        if raw is None:
            values[name] = None
        elif raw == "" and name in _FALLBACKS:
            values[name] = values[_FALLBACKS[name]]
        else:
            values[name] = _parse_one(name, raw, parser)
    return Settings(**values)


def settings_warnings(settings: Settings) -> list[str]:
    """Settings that work today but should change, each as one line naming the setting."""
    from xerosync.xero.scopes import deprecation_warning  # the Xero package only when asked

    warning = deprecation_warning(settings.XERO_SCOPES, setting="XERO_SCOPES")
    return [warning] if warning else []


def warn_about_settings(settings: Settings, logger: logging.Logger | None = None) -> list[str]:
    """Log each of `settings_warnings` as a warning (the CLI and worker start-up check)."""
    lines = settings_warnings(settings)
    for line in lines:
        (logger or log).warning("%s", line)
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
