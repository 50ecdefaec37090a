"""The fault suite's log reading: only the tracebacks a run causes on purpose are let through."""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.logs import Allowance, explained_tracebacks, unexplained_tracebacks

PORT = 34319
AT = "2026-12-01 23:09:51"
WHEN = time.mktime(time.strptime(AT, "%Y-%m-%d %H:%M:%S"))
CHAIN = """Traceback (most recent call last):
  File "/venv/redis/connection.py", line 1055, in connect_check_health
    sock = self._connect()
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/venv/celery/app/task.py", line 760, in retry
    raise Reject(exc, requeue=False)
"""
REJECT = (
    f"{AT},891 WARNING celery.app.trace [task=- org=-] Task xerosync.tasks.push_contact[ab-1] "
    f"reject requeue=False: Error 111 connecting to 127.0.0.1:{PORT}. Connection refused.\n"
    + CHAIN
    + f"celery.exceptions.Reject: (OperationalError('Error 111 connecting to 127.0.0.1:{PORT}."
    " Connection refused.'), False)\n"
)
CRASH = (
    f"{AT},900 ERROR celery.app.trace [task=- org=-] Task xerosync.tasks.push_contact[ab-2] "
    "raised unexpected: KeyError('x')\nTraceback (most recent call last):\n"
    "  File \"/work/main/xerosync/tasks.py\", line 1, in push_contact\nKeyError: 'x'\n"
)
LOST = (
    f"{AT},950 ERROR celery.worker.request [task=- org=-] Process 'ForkPoolWorker-1' "
    "exited with 'signal 9 (SIGKILL)'\nTraceback (most recent call last):\n"
    '  File "/venv/billiard/pool.py", line 1265, in mark_as_worker_lost\n'
    "billiard.exceptions.WorkerLostError: Worker exited prematurely: signal 9 (SIGKILL) Job: 3.\n"
)


def _log(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(f"{AT},000 INFO celery.worker [task=- org=-] ready.\n{text}")
    return path


def test_a_retry_refused_by_the_restarting_broker_is_explained(tmp_path: Path) -> None:
    log = _log(tmp_path, "worker-sync-1.log", REJECT)
    allow = Allowance(PORT, (WHEN, WHEN + 1.6))
    assert unexplained_tracebacks([log], allow) == []
    assert explained_tracebacks([log], allow) == 1


def test_the_same_refusal_outside_the_restart_or_on_another_port_is_not(tmp_path: Path) -> None:
    log = _log(tmp_path, "worker-sync-1.log", REJECT)
    assert len(unexplained_tracebacks([log], Allowance(PORT, (WHEN + 30, WHEN + 32)))) == 1
    assert len(unexplained_tracebacks([log], Allowance(PORT))) == 1
    assert len(unexplained_tracebacks([log], Allowance(PORT + 1, (WHEN, WHEN + 2)))) == 1


def test_a_crash_or_a_traceback_after_an_explained_one_is_reported(tmp_path: Path) -> None:
    stray = 'Traceback (most recent call last):\n  File "x.py"\nValueError: boom\n'
    log = _log(tmp_path, "worker-sync-1.log", REJECT + stray + CRASH)
    found = unexplained_tracebacks([log], Allowance(PORT, (WHEN, WHEN + 2)))
    assert len(found) == 2
    assert "ValueError: boom" in found[0] and "KeyError" in found[1]


def test_a_lost_pool_child_is_explained_only_in_the_killed_workers_log(tmp_path: Path) -> None:
    killed = _log(tmp_path, "worker-invoices-1.log", LOST)
    other = _log(tmp_path, "worker-invoices-2.log", LOST)
    allow = Allowance(PORT, None, killed_log=killed.name)
    assert unexplained_tracebacks([killed], allow) == []
    assert len(unexplained_tracebacks([other], allow)) == 1


ACK_LOST = (
    f"{AT},228 CRITICAL celery.worker.request [task=- org=-] Couldn't ack 'ab-3', "
    "reason:network:ConnectionError\nTraceback (most recent call last):\n"
    '  File "/venv/kombu/message.py", line 130, in ack\n'
    "redis.exceptions.ConnectionError: Connection closed by server.\n"
)


def test_an_ack_lost_as_redis_went_away_is_explained_only_then(tmp_path: Path) -> None:
    log = _log(tmp_path, "worker-sync-1.log", ACK_LOST)
    assert unexplained_tracebacks([log], Allowance(PORT, (WHEN, WHEN + 1.6))) == []
    assert len(unexplained_tracebacks([log], Allowance(PORT, (WHEN + 30, WHEN + 32)))) == 1


KOMBU_CRASH = (
    f"{AT},213 CRITICAL celery.worker [task=- org=-] Unrecoverable error: "
    "AttributeError(\"'NoneType' object has no attribute 'hostname'\")\n"
    "Traceback (most recent call last):\n"
    '  File "/venv/kombu/transport/virtual/base.py", line 300, in restore_unacked_once\n'
    "    unrestored = self.restore_unacked()\n"
    "AttributeError: 'NoneType' object has no attribute 'hostname'\n"
)


def test_kombus_crash_closing_a_broken_connection_is_never_explained(tmp_path: Path) -> None:
    """xerosync's transport (xerosync/broker.py) fixed it: a worker must not exit on it."""
    log = _log(tmp_path, "worker-invoices-2.log", KOMBU_CRASH)
    assert len(unexplained_tracebacks([log], Allowance(PORT, (WHEN, WHEN + 1.6)))) == 1


ACK_ON_CLOSED = (
    f"{AT},991 CRITICAL celery.worker.request [task=- org=-] Couldn't ack 121, "
    "reason:RecoverableConnectionError(None, 'connection already closed', None, '')\n"
    "Traceback (most recent call last):\n"
    '  File "/venv/kombu/message.py", line 126, in ack_log_error\n'
    "amqp.exceptions.RecoverableConnectionError: connection already closed\n"
)


def test_an_ack_on_the_connection_rabbitmq_closed_is_explained_after_the_outage(
    tmp_path: Path,
) -> None:
    log = _log(tmp_path, "worker-sync-1.log", ACK_ON_CLOSED)
    # Long after the outage: a task held for its countdown ran later on the dead channel.
    assert unexplained_tracebacks([log], Allowance(PORT, (WHEN - 40, WHEN - 38), amqp=True)) == []
    # Not before the outage, and not when the broker is Redis.
    assert len(unexplained_tracebacks([log], Allowance(PORT, (WHEN + 5, WHEN + 6), amqp=True))) == 1
    assert len(unexplained_tracebacks([log], Allowance(PORT, (WHEN - 40, WHEN - 38)))) == 1
