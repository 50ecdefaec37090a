"""`xerosync worker|beat|flower`: start Celery's processes with arguments from the settings.

The Procfile calls these instead of `celery ...` directly so that every value (queues,
Flower's port and password, log level) comes from `xerosync.settings`, in one place.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from celeryconfig import INVOICE_QUEUE, SYNC_QUEUE
from xerosync.settings import get_settings

WORKER_QUEUES = {INVOICE_QUEUE: INVOICE_QUEUE, SYNC_QUEUE: SYNC_QUEUE}


def register(subparsers: Any) -> None:
    worker: argparse.ArgumentParser = subparsers.add_parser(
        "worker", help="run a Celery worker for one queue"
    )
    worker.add_argument("queue", choices=sorted(WORKER_QUEUES))
    worker.add_argument("--concurrency", "-c", type=int, default=2)
    worker.set_defaults(handler=_worker)
    subparsers.add_parser("beat", help="run Celery beat (the routine pass)").set_defaults(
        handler=_beat
    )
    subparsers.add_parser("flower", help="run Flower behind basic auth").set_defaults(
        handler=_flower
    )


def worker_argv(queue: str, concurrency: int) -> list[str]:
    settings = get_settings()
    return [
        "worker",
        "--queues", WORKER_QUEUES[queue],
        "--hostname", f"{queue}@%h",
        "--concurrency", str(concurrency),
        "--loglevel", settings.LOG_LEVEL,
    ]  # fmt: skip


def beat_argv() -> list[str]:
    os.makedirs("var", exist_ok=True)
    return [
        "beat",
        "--schedule", "var/celerybeat-schedule",
        "--loglevel", get_settings().LOG_LEVEL,
    ]  # fmt: skip


def flower_argv() -> list[str]:
    settings = get_settings()
    return [
        "flower",
        f"--port={settings.FLOWER_PORT}",
        "--address=127.0.0.1",
        f"--basic-auth={settings.FLOWER_USER}:{settings.FLOWER_PASSWORD}",
    ]


def _exec_celery(argv: list[str]) -> int:
    full = [sys.executable, "-m", "celery", "-A", "xerosync.app", *argv]
    os.execv(sys.executable, full)
    return 0  # pragma: no cover - execv does not return


def _worker(args: argparse.Namespace) -> int:
    return _exec_celery(worker_argv(args.queue, args.concurrency))


def _beat(_args: argparse.Namespace) -> int:
    return _exec_celery(beat_argv())


def _flower(_args: argparse.Namespace) -> int:
    return _exec_celery(flower_argv())
