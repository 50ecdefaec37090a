"""The webhook task, on the `sync` queue: thin, over `xerosync.webhooks.jobs`.

Retries follow the routine policy from the first try; past its horizon the events are let
go with a log line, since the routine pass brings the same records in at its next read.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task

from xerosync.app import app
from xerosync.settings import get_settings
from xerosync.sync import jobs as sync_jobs
from xerosync.sync.retry import ROUTINE_POLICY, Action, decide
from xerosync.webhooks import jobs
from xerosync.xero.errors import XeroError

log = logging.getLogger("xerosync.webhooks")

TASK_NAME = "xerosync.webhooks.apply_events"


class _Wait:
    retryable = True

    def __init__(self, seconds: float | None) -> None:
        self.retry_after = seconds


@app.task(bind=True, shared=False, max_retries=None, name=TASK_NAME)
def apply_webhook_events(
    self: Task,
    tenant_id: str,
    events: list[dict[str, Any]],
    received_at: float,
    first_tried_at: float | None = None,
) -> dict[str, Any]:
    """Fetch and store the records one organisation's webhook events name."""
    first = float(first_tried_at or time.time())
    result = jobs.apply_events(tenant_id, events, received_at, task_id=self.request.id)
    if result.retry_in is not None:
        why = result.cause if isinstance(result.cause, XeroError) else _Wait(result.retry_in)
        decision = decide(
            why,
            self.request.retries,
            max_countdown=sync_jobs._max_countdown(get_settings()),
            policy=ROUTINE_POLICY,
            elapsed=time.time() - first,
        )
        if decision.action is Action.RETRY:
            kwargs = {**(self.request.kwargs or {}), "first_tried_at": first}
            raise self.retry(countdown=decision.seconds, kwargs=kwargs)
        log.warning(
            "webhook events for %s let go after %.0f s (%s); the routine pass brings the "
            "same records in",
            tenant_id,
            time.time() - first,
            result.error,
        )
    return {"status": result.status, "detail": result.detail, "error": result.error}
