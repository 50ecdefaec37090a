"""The Celery app: `celery -A xerosync.app worker|beat|flower`.

Settings come from `celeryconfig.py`; tasks from `xerosync.tasks` once they exist, so the app
can be imported without touching the database or Xero.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    celeryd_after_setup,
    celeryd_init,
)

from xerosync import broker
from xerosync.observability import configure_logging, init_sentry
from xerosync.settings import get_settings, warn_about_settings

broker.install()  # kombu's Redis transport, without its crash when Redis restarts
app = Celery("xerosync")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["xerosync", "xerosync.webhooks"], related_name="tasks", force=False)


@celeryd_init.connect
def _start_sentry(**_kwargs: Any) -> None:
    """Sentry in every worker (and beat, through the Celery integration) when a DSN is set."""
    init_sentry(get_settings())


@celeryd_after_setup.connect
def _check_settings(**_kwargs: Any) -> None:
    """At worker start, name settings that work but should change (a deprecated Xero scope
    in XERO_SCOPES, with its replacement). After `celeryd_init`, once logging is set up, so
    the warning carries the worker's format."""
    warn_about_settings(get_settings(), logging.getLogger("xerosync.app"))


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_kwargs: Any) -> None:
    """Celery's handlers get xerosync's format (task id, organisation) and redaction."""
    configure_logging(get_settings(), logger)
