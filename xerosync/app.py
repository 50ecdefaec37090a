"""The Celery app: `celery -A xerosync.app worker|beat|flower`.

Settings come from `celeryconfig.py`; tasks from `xerosync.tasks` once they exist, so the app
can be imported without touching the database or Xero.
"""

from __future__ import annotations

from celery import Celery

app = Celery("xerosync")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["xerosync"], related_name="tasks", force=False)
