"""Logging and Sentry, configured once per process, with secrets scrubbed from both.

Log lines carry the task id and the organisation (`logcontext`). Sentry is on only when
SENTRY_DSN is set; it uses the Celery integration with beat monitoring, and every event and
breadcrumb passes through `redaction.scrub` before it leaves the process.

Sentry hears what an operator must act on: crashes, failures that are not about a record's
data (a missing scope, a refused client), records deferred past the retry horizon and
organisations that must be connected again (both logged at ERROR by the tasks). A record Xero
refused for its data (`xerosync.tasks.RecordRejected`) is not an event: it is logged at
WARNING and listed by `xerosync errors`; `before_send` drops it by exception type.

requests-oauthlib and oauthlib log the OAuth `state`, the authorization code and token
request bodies at DEBUG; their loggers are held at WARNING whatever LOG_LEVEL says.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from xerosync import redaction
from xerosync.logcontext import ContextFilter
from xerosync.settings import Settings

QUIET_LOGGERS = ("requests_oauthlib", "oauthlib")
"""Loggers whose DEBUG lines carry OAuth secrets (state, code, token bodies)."""

NOT_FOR_SENTRY = ("xerosync.tasks.RecordRejected",)
"""Exception types (qualified names, matched along the MRO) that are no Sentry event: Xero's
verdict on one record's data, visible in `xerosync errors`."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [task=%(task_id)s org=%(org)s] %(message)s"


class RedactingFilter(logging.Filter):
    """Renders each record's message now and cuts secrets out of it (and its traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redaction.scrub_text(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redaction.scrub_text(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


def install_filters(handler: logging.Handler) -> None:
    """Give a handler the context fields and the redaction (idempotent)."""
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))


def configure_logging(
    settings: Settings, logger: logging.Logger | None = None, level: str | None = None
) -> None:
    """Root (or `logger`) handlers get xerosync's format, context and redaction."""
    redaction.remember(_settings_secrets(settings))
    target = logger or logging.getLogger()
    if not target.handlers:
        target.addHandler(logging.StreamHandler())
    for handler in target.handlers:
        install_filters(handler)
    target.setLevel(level or settings.LOG_LEVEL)
    quiet_oauth_loggers()


def quiet_oauth_loggers() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _settings_secrets(settings: Settings) -> list[str | None]:
    """Every secret value a setting holds, to be cut out of any text (by value)."""
    values: list[str | None] = []
    for name, value in settings.as_dict().items():
        if not isinstance(value, str):
            continue
        if redaction.is_secret_setting(name):
            values.append(value)
        elif "://" in value:
            values.append(redaction.url_password(value))
            if "DSN" in name.upper():
                values.append(_dsn_key(value))
    return values


def _dsn_key(dsn: str) -> str | None:
    try:
        return urlsplit(dsn).username
    except ValueError:
        return None


def _not_for_sentry(hint: dict[str, Any]) -> bool:
    exc_info = hint.get("exc_info")
    if not exc_info or exc_info[0] is None:
        return False
    names = {f"{k.__module__}.{k.__qualname__}" for k in exc_info[0].__mro__}
    return not names.isdisjoint(NOT_FOR_SENTRY)


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Drop what is no operator's business (a record Xero refused), scrub the rest."""
    if _not_for_sentry(hint or {}):
        return None
    scrubbed: dict[str, Any] = redaction.scrub(event)
    return scrubbed


def before_breadcrumb(crumb: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = redaction.scrub(crumb)
    return scrubbed


def init_sentry(settings: Settings, **options: Any) -> bool:
    """Start Sentry if SENTRY_DSN is set; True when it was started."""
    if not settings.SENTRY_DSN:
        return False
    redaction.remember(_settings_secrets(settings))
    quiet_oauth_loggers()
    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        integrations=[
            CeleryIntegration(monitor_beat_tasks=True),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
        ],
        include_local_variables=True,
        before_send=before_send,  # type: ignore[arg-type]
        before_breadcrumb=before_breadcrumb,
        **options,
    )
    return True
