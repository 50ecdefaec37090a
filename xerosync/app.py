"""The Celery app: `celery -A xerosync.app worker|beat|flower`.

Settings come from `celeryconfig.py`; tasks from `xerosync.tasks` once they exist, so the app
can be imported without touching the database or Xero.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, celeryd_init

from xerosync.observability import configure_logging, init_sentry
from xerosync.settings import get_settings

app = Celery("xerosync")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["xerosync"], related_name="tasks", force=False)


@celeryd_init.connect
def _start_sentry(**_kwargs: Any) -> None:
    """Sentry in every worker (and beat, through the Celery integration) when a DSN is set."""
    init_sentry(get_settings())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _log_format(logger: logging.Logger, **_kwargs: Any) -> None:
    """Celery's handlers get xerosync's format (task id, organisation) and redaction."""
    configure_logging(get_settings(), logger)
