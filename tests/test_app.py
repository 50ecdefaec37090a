"""Celery wiring: tasks travel through a real Redis broker to a real worker on the queue
`celeryconfig.py` names for them."""

from __future__ import annotations

import queue

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

import celeryconfig

pytestmark = pytest.mark.integration


def probe_app(broker_url: str, seen: queue.Queue[tuple[str, str, int]]) -> Celery:
    """An app with xerosync's configuration and probe tasks under the real task names."""
    app = Celery("routing-probe", set_as_current=False)
    app.config_from_object("celeryconfig")
    app.conf.broker_url = broker_url

    for name in (*celeryconfig.INVOICE_TASKS, "xerosync.tasks.push_contact"):

        def record(self: object, record_id: int, _name: str = name) -> None:
            routing_key = self.request.delivery_info.get("routing_key", "")  # type: ignore[attr-defined]
            seen.put((_name, routing_key, record_id))

        app.task(name=name, bind=True, shared=False)(record)
    return app


def test_invoice_tasks_reach_the_invoices_worker_only(
    redis_url: str, real_redis: redis.Redis
) -> None:
    seen: queue.Queue[tuple[str, str, int]] = queue.Queue()
    app = probe_app(redis_url, seen)
    invoice_task = app.tasks["xerosync.tasks.create_invoice_for_order"]
    contact_task = app.tasks["xerosync.tasks.push_contact"]

    contact_task.delay(2)
    assert real_redis.llen(celeryconfig.SYNC_QUEUE) == 1

    with start_worker(app, queues=[celeryconfig.INVOICE_QUEUE], perform_ping_check=False):
        invoice_task.delay(1)
        assert seen.get(timeout=20) == (
            "xerosync.tasks.create_invoice_for_order",
            celeryconfig.INVOICE_QUEUE,
            1,
        )
    assert seen.empty()
    assert real_redis.llen(celeryconfig.SYNC_QUEUE) == 1

    with start_worker(app, queues=[celeryconfig.SYNC_QUEUE], perform_ping_check=False):
        assert seen.get(timeout=20) == ("xerosync.tasks.push_contact", celeryconfig.SYNC_QUEUE, 2)


def test_configuration_is_what_the_design_asks() -> None:
    assert celeryconfig.task_acks_late is True
    assert celeryconfig.worker_prefetch_multiplier == 1
    assert celeryconfig.accept_content == ["json"]
    assert celeryconfig.task_serializer == "json"
    assert celeryconfig.enable_utc and celeryconfig.timezone == "UTC"
    entry = celeryconfig.beat_schedule["routine-pass"]
    assert entry["task"] == celeryconfig.ROUTINE_PASS_TASK
    assert entry["options"]["expires"] <= entry["schedule"]
