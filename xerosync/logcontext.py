"""Who is working right now (task id, organisation), for log lines and audit rows.

Context variables rather than arguments, so the Xero client's hook and the log formatter can
name the task without every function passing it along. Set by the task layer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

task_id: ContextVar[str | None] = ContextVar("xerosync_task_id", default=None)
organisation: ContextVar[str | None] = ContextVar("xerosync_organisation", default=None)


@contextmanager
def working_for(*, task: str | None = None, org: str | None = None) -> Iterator[None]:
    """Within the block, log lines and audit rows carry this task and organisation."""
    tokens = []
    if task is not None:
        tokens.append((task_id, task_id.set(task)))
    if org is not None:
        tokens.append((organisation, organisation.set(org)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds `task_id` and `org` to every record (for formats like `%(task_id)s`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.task_id = task_id.get() or "-"
        record.org = organisation.get() or "-"
        return True
