"""`xerosync worker|beat|flower`: start Celery's processes with arguments from the settings.

The Procfile calls these instead of `celery ...` directly so that every value (queues,
Flower's port and password, log level) comes from `xerosync.settings`, in one place.

Flower's credentials never go on its command line, which every local user can read (`ps`,
`/proc/<pid>/cmdline`): Flower reads any option from a `FLOWER_<OPTION>` environment variable
(`flower.command.apply_env_options`), so `xerosync flower` hands it `FLOWER_BASIC_AUTH` (and
`FLOWER_ADDRESS`, `FLOWER_PORT`) in its environment, which only its own user may read.
Outside the sandbox it refuses the default password.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from celeryconfig import INVOICE_QUEUE, SYNC_QUEUE
from xerosync.cli import CommandError
from xerosync.settings import Settings, get_settings

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


DEFAULT_FLOWER_PASSWORD = "xerosync"
"""FLOWER_PASSWORD's default: good for the sandbox on one's own machine, refused elsewhere."""


FLOWER_TASKS_COLUMNS = "name,state,args,exception,result,received,runtime,retries,worker,uuid"
"""The task list's columns: the record a task was for (`args`: "customer #12") and Xero's words
(`exception`) next to the state, so a failure reads at a glance."""


def flower_argv() -> list[str]:
    """Flower's command line: nothing secret on it (everything else is in `flower_env`)."""
    return ["flower"]


def flower_env(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Flower starts with: basic auth, port and (unless FLOWER_ADDRESS says
    otherwise, as in docker-compose) the loopback address."""
    check_flower_credentials(settings)
    env = dict(os.environ if environ is None else environ)
    env.setdefault("FLOWER_ADDRESS", "127.0.0.1")
    env.setdefault("FLOWER_TASKS_COLUMNS", FLOWER_TASKS_COLUMNS)
    env["FLOWER_PORT"] = str(settings.FLOWER_PORT)
    env["FLOWER_BASIC_AUTH"] = f"{settings.FLOWER_USER}:{settings.FLOWER_PASSWORD}"
    return env


def check_flower_credentials(settings: Settings) -> None:
    """Refuse, in one line naming the setting, what would let the wrong person in."""
    if not settings.FLOWER_PASSWORD:
        raise CommandError("FLOWER_PASSWORD is empty: set a password for Flower")
    if settings.FLOWER_PASSWORD == DEFAULT_FLOWER_PASSWORD and not settings.uses_sandbox:
        raise CommandError(
            "FLOWER_PASSWORD is still the default and XERO_BASE_URL is not the local sandbox: "
            "set FLOWER_PASSWORD to a password of your own before starting Flower"
        )
    if "," in settings.FLOWER_PASSWORD or "," in settings.FLOWER_USER:
        raise CommandError(
            "FLOWER_USER and FLOWER_PASSWORD may not contain a comma "
            "(Flower splits FLOWER_BASIC_AUTH on commas)"
        )
    if ":" in settings.FLOWER_USER:
        raise CommandError("FLOWER_USER may not contain a colon")


def _exec_celery(argv: list[str], env: dict[str, str] | None = None) -> int:
    full = [sys.executable, "-m", "celery", "-A", "xerosync.app", *argv]
    if env is None:
        os.execv(sys.executable, full)
    else:
        os.execve(sys.executable, full, env)
    return 0  # pragma: no cover - execv does not return


def _worker(args: argparse.Namespace) -> int:
    return _exec_celery(worker_argv(args.queue, args.concurrency))


def _beat(_args: argparse.Namespace) -> int:
    return _exec_celery(beat_argv())


def _flower(_args: argparse.Namespace) -> int:
    return _exec_celery(flower_argv(), flower_env(get_settings()))
