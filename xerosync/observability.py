"""Logging and Sentry, configured once per process, with secrets scrubbed from both.

Log lines carry the task id and the organisation (`logcontext`). Sentry is on only when
SENTRY_DSN is set; it uses the Celery integration with beat monitoring, and every event and
breadcrumb passes through `redaction.scrub` before it leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from xerosync import redaction
from xerosync.logcontext import ContextFilter
from xerosync.settings import Settings

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


def _settings_secrets(settings: Settings) -> list[str | None]:
    return [
        settings.XERO_CLIENT_SECRET,
        settings.TOKEN_ENCRYPTION_KEY,
        settings.SANDBOX_CLIENT_SECRET,
    ]


def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
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
