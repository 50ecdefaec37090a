"""Celery settings only: broker, queues, routes, acknowledgement and the beat schedule.

Invoice creation has its own queue, served by its own worker, so a confirmed quote never
waits behind routine sync work. Tasks are acknowledged after they finish (a killed worker's
task is delivered again) and each worker takes one task at a time.
"""

from __future__ import annotations

from kombu import Queue

from xerosync.settings import get_settings

_settings = get_settings()

INVOICE_QUEUE = "invoices"
SYNC_QUEUE = "sync"

ROUTINE_PASS_TASK = "xerosync.tasks.run_routine_pass"
ROUTINE_PASS_ENTRY = "routine-pass"
INVOICE_TASKS = ("xerosync.tasks.create_invoice_for_order",)

RABBITMQ_SCHEMES = ("amqp", "amqps", "pyamqp")


def is_rabbitmq(url: str) -> bool:
    return url.split("://", 1)[0] in RABBITMQ_SCHEMES


def transport_options_for(url: str) -> dict[str, object]:
    """The broker's transport options, which differ between Redis and RabbitMQ.

    Redis has no acknowledgements of its own: kombu keeps delivered tasks in an `unacked`
    hash and hands one out again once it is older than the visibility timeout. RabbitMQ
    acknowledges natively: a task whose worker's connection dies goes back on its queue at
    once (no visibility timeout), and a delivery held unacknowledged longer than the
    server's `consumer_timeout` (30 min by default) closes the worker's channel; xerosync's
    longest countdown stays under it (`xerosync.sync.jobs`), longer waits are deferred in
    the database.
    """
    if is_rabbitmq(url):
        # Publisher confirms: `.delay()` returns once RabbitMQ has the task, and raises if it
        # refused or the connection dropped, so the outbox keeps the record instead.
        return {"confirm_publish": True}
    return {
        # A task not acknowledged within this time is handed to another worker; no countdown
        # xerosync sets is ever longer than this (longer waits are deferred in the database).
        "visibility_timeout": _settings.BROKER_VISIBILITY_TIMEOUT,
        # Look for such tasks every 10 s. Kombu's default scans on every tenth sweep (about
        # 100 s), which adds over a minute to a killed worker's redelivery.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }


broker_url = _settings.CELERY_BROKER_URL
broker_connection_retry_on_startup = True
broker_transport_options = transport_options_for(broker_url)
result_backend = None
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

task_queues = (Queue(INVOICE_QUEUE), Queue(SYNC_QUEUE))
task_default_queue = SYNC_QUEUE
task_routes = {
    **{name: {"queue": INVOICE_QUEUE} for name in INVOICE_TASKS},
    "xerosync.tasks.*": {"queue": SYNC_QUEUE},
}

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_time_limit = 600
task_soft_time_limit = 540
worker_send_task_events = True
task_send_sent_event = True

# xerosync's scheduler sends the routine pass as soon as beat starts (Celery's waits one
# interval) and writes a heartbeat to Redis on every tick, which `xerosync status` reads.
beat_scheduler = "xerosync.beat:Scheduler"
beat_schedule = {
    ROUTINE_PASS_ENTRY: {
        "task": ROUTINE_PASS_TASK,
        "schedule": float(_settings.SYNC_INTERVAL_SECONDS),
        # A tick nobody picked up before the next one is worthless: drop it.
        "options": {"expires": float(_settings.SYNC_INTERVAL_SECONDS), "queue": SYNC_QUEUE},
    },
}
