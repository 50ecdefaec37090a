"""The fault suite's reading of worker logs: which tracebacks a run may leave, precisely.

`tests.fixtures.worker_logs` finds crashed tasks ("raised unexpected") and counts tracebacks.
A faulted run leaves a few tracebacks on purpose, and only these are let through:

* **the broker restart**: while the suite's Redis (broker and budget store) is down, a task
  that is told to retry cannot send its retry; Celery logs `Task …[id] reject requeue=False:
  Error 111 connecting to <the suite's Redis>` with the broker's connection error chained
  (ending in `celery.exceptions.Reject`), and the outbox and the routine pass carry the record.
  The consumer's own broker-connection messages belong here too. Only while Redis is down
  (plus a few seconds for connections to notice), and only naming the suite's Redis port.
* **the RabbitMQ outage** (RabbitMQ runs): the server closes the vhost's connections; the
  consumer's "Connection to broker lost", an ack or a retry that met the closed connection
  (`CONNECTION_FORCED`, reset, socket closed, "connection already closed"), from the outage
  on: a task delivered on the closed connection, one held for its countdown too, finishes
  later and its ack meets that connection (RabbitMQ has already requeued it).
* **the SIGKILLed worker**: a pool that outlives its parent for a moment may log its child's
  `WorkerLostError … signal 9 (SIGKILL)`; only in the killed worker's own log.

Everything else with a traceback is reported with its first and last line.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

TRACEBACK = "Traceback (most recent call last)"
_HEAD = re.compile(r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(?P<ms>\d{3}) (?P<level>[A-Z]+) ")


@dataclass(frozen=True)
class LogRecord:
    """One log record: its first line and every continuation line (a traceback's)."""

    log: str
    at: float | None
    lines: tuple[str, ...]

    @property
    def head(self) -> str:
        return self.lines[0]

    @property
    def tracebacks(self) -> int:
        return sum(1 for line in self.lines if line.startswith(TRACEBACK))

    @property
    def final_error(self) -> str:
        """The last unindented line: the exception a traceback ended in."""
        tail = [line for line in self.lines[1:] if line and not line[0].isspace()]
        return tail[-1] if tail else ""

    def describe(self) -> str:
        return f"{self.log}: {self.head[:200]} ... {self.final_error[:200]}"


def records(path: Path) -> list[LogRecord]:
    """A worker log split into records (a line with a timestamp starts one)."""
    out: list[LogRecord] = []
    at: float | None = None
    lines: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        match = _HEAD.match(line)
        if match:
            if lines:
                out.append(LogRecord(path.name, at, tuple(lines)))
            stamp = time.mktime(time.strptime(match["at"], "%Y-%m-%d %H:%M:%S"))
            at, lines = stamp + int(match["ms"]) / 1000, [line]
        else:
            lines.append(line)
    if lines:
        out.append(LogRecord(path.name, at, tuple(lines)))
    return out


@dataclass(frozen=True)
class Allowance:
    """The moments a run caused tracebacks on purpose."""

    redis_port: int
    redis_down: tuple[float, float] | None = None
    """Wall-clock seconds when the broker restart began and when Redis answered again."""
    killed_log: str | None = None
    """File name of the SIGKILLed worker's log."""
    settle_seconds: float = 5.0
    amqp: bool = False
    """The broker is RabbitMQ, whose outage is every connection closed by the server."""


def _broker_refused(record: LogRecord, allow: Allowance) -> bool:
    if allow.redis_down is None or record.at is None:
        return False
    began, ended = allow.redis_down
    if allow.amqp and record.at >= began - 1.0 and _amqp_closed(record):
        # Any time after: a task delivered on the closed connection (one held for its
        # countdown too) finishes later and its ack meets that connection.
        return True
    if not began - 1.0 <= record.at <= ended + allow.settle_seconds:
        return False
    refused = f"Error 111 connecting to 127.0.0.1:{allow.redis_port}. Connection refused"
    lost = "Connection closed by server"
    head = record.head
    if " celery.app.trace " in head and " reject requeue=False: " in head and refused in head:
        return record.final_error.startswith("celery.exceptions.Reject: ") and (
            refused in record.final_error
        )
    if " celery.worker.consumer" in head and (
        "Connection to broker lost" in head or "Cannot connect to redis" in head
    ):
        return refused in record.final_error or lost in record.final_error
    if " celery.worker.request " in head and "Couldn't ack" in head:
        # A task finished as Redis went away: its acknowledgement is lost and the broker
        # delivers it again (acks late), which the outbox and exactly-once rules absorb.
        return record.final_error.startswith("redis.exceptions.ConnectionError: ") and any(
            words in record.final_error for words in (lost, "Connection reset by peer", refused)
        )
    return False


AMQP_CLOSED = (
    "CONNECTION_FORCED",
    "Connection reset by peer",
    "Socket closed",
    "Server unexpectedly closed connection",
    "Broken pipe",
    "connection already closed",
    "Socket was disconnected",
)


def _amqp_closed(record: LogRecord) -> bool:
    """RabbitMQ closed the connection (the outage): the consumer reconnects, an ack or a
    retry sent on the dead connection fails, and the broker redelivers or the outbox has it."""
    error = record.final_error
    if not any(words in error for words in AMQP_CLOSED):
        return False
    head = record.head
    return (
        (" celery.worker.consumer" in head and "Connection to broker lost" in head)
        or (" celery.worker.request " in head and "Couldn't ack" in head)
        or (" celery.app.trace " in head and " reject requeue=False: " in head)
        or (" celery.worker.loops " in head and "Error cleaning up after event loop" in head)
    )


def _killed_worker_lost(record: LogRecord, allow: Allowance) -> bool:
    return (
        allow.killed_log is not None
        and record.log == allow.killed_log
        and record.final_error.startswith("billiard.exceptions.WorkerLostError: ")
        and "signal 9 (SIGKILL)" in record.final_error
    )


def unexplained_tracebacks(paths: list[Path], allow: Allowance) -> list[str]:
    """Every record with a traceback that none of the allowances explains."""
    found = []
    for path in paths:
        for record in records(path):
            if not record.tracebacks:
                continue
            if _broker_refused(record, allow) or _killed_worker_lost(record, allow):
                continue
            found.append(record.describe())
    return found


def explained_tracebacks(paths: list[Path], allow: Allowance) -> int:
    """How many records with a traceback the allowances let through (for the report)."""
    return sum(
        1
        for path in paths
        for record in records(path)
        if record.tracebacks
        and (_broker_refused(record, allow) or _killed_worker_lost(record, allow))
    )
