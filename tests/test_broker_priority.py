"""Invoices keep their priority on both brokers: an invoice task overtakes a sync backlog.

Priority in xerosync is a queue of its own (`invoices`), not message priorities: RabbitMQ
would need `x-max-priority` queues and Redis only emulates priorities with extra lists. The
worst case is tested here: one worker process serving both queues, one task at a time, with
a backlog of sync tasks queued before the invoice. Both brokers hand the worker its queues
in turn (Redis: kombu rotates the queues it pops; RabbitMQ: one consumer per queue on a
channel limited to one unacknowledged task), so the invoice runs within the first tasks
instead of after the backlog. In production the invoice worker serves `invoices` alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery import Celery, Task
from celery.contrib.testing.worker import start_worker

import celeryconfig
from tests.fixtures.waiting import eventually
from xerosync.settings import load_settings
from xerosync.sync.jobs import RABBITMQ_CONSUMER_TIMEOUT, _max_countdown

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]

BACKLOG = 30
RAN: list[str] = []
_RAN_LOCK = threading.Lock()


def _record(label: str) -> None:
    time.sleep(0.05)  # a sync task takes a moment: the backlog is still there when it ends
    with _RAN_LOCK:
        RAN.append(label)


def _probe_task(app: Celery) -> Task:
    """A task that only notes that it ran (registered once on xerosync's app)."""
    name = "tests.test_broker_priority.probe"
    if name not in app.tasks:
        app.task(name=name, acks_late=True)(_record)
    return app.tasks[name]


@contextmanager
def one_worker_for_both_queues(app: Celery) -> Iterator[None]:
    previous_heartbeat = app.conf.broker_heartbeat
    app.conf.broker_heartbeat = 0  # see tests/fixtures/celery.py: a prompt stop
    try:
        with start_worker(
            app,
            pool="solo",
            concurrency=1,
            queues=[celeryconfig.INVOICE_QUEUE, celeryconfig.SYNC_QUEUE],
            perform_ping_check=False,
            shutdown_timeout=30,
        ):
            yield
    finally:
        app.conf.broker_heartbeat = previous_heartbeat


def test_each_broker_gets_its_own_transport_options() -> None:
    rabbit = celeryconfig.transport_options_for("amqp://guest:guest@127.0.0.1:5672/x")
    assert rabbit == {"confirm_publish": True}  # nothing of Redis's visibility sweep
    redis = celeryconfig.transport_options_for("redis://127.0.0.1:6379/0")
    assert "visibility_timeout" in redis and "confirm_publish" not in redis


def test_on_rabbitmq_no_countdown_outlasts_its_consumer_timeout() -> None:
    def longest(broker_url: str) -> float:
        settings = load_settings(
            {"CELERY_BROKER_URL": broker_url, "BROKER_VISIBILITY_TIMEOUT": "3600"},
            env_file=None,
        )
        return _max_countdown(settings)

    assert longest("redis://127.0.0.1:6379/0") == 3600 * 0.9
    assert longest("amqp://guest:guest@127.0.0.1:5672/") < RABBITMQ_CONSUMER_TIMEOUT


def test_the_invoice_task_is_routed_to_its_own_queue(celery_app: Celery) -> None:
    route = celery_app.amqp.router.route({}, "xerosync.tasks.create_invoice_for_order")
    assert route["queue"].name == celeryconfig.INVOICE_QUEUE
    route = celery_app.amqp.router.route({}, "xerosync.tasks.push_contact")
    assert route["queue"].name == celeryconfig.SYNC_QUEUE


def test_an_invoice_is_consumed_ahead_of_a_backlog_of_sync_tasks(
    celery_app: Celery, broker_kind: str
) -> None:
    probe = _probe_task(celery_app)
    RAN.clear()
    for n in range(BACKLOG):
        probe.apply_async((f"sync-{n}",), queue=celeryconfig.SYNC_QUEUE)
    probe.apply_async(("invoice",), queue=celeryconfig.INVOICE_QUEUE)

    with one_worker_for_both_queues(celery_app):
        eventually(lambda: len(RAN) == BACKLOG + 1 or None, timeout=60)
    position = RAN.index("invoice")
    print(f"{broker_kind}: the invoice ran after {position} of {BACKLOG} queued sync tasks")
    # Queues are served in turn: at most one sync task per queue turn ahead of it (two when
    # the worker starts on the sync queue and the broker had handed it one more already).
    assert position <= 2, f"on {broker_kind} the invoice ran after {position} sync tasks: {RAN}"
