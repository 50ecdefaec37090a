"""Celery beat's scheduler for xerosync: the first routine pass at start, and a heartbeat.

Celery's own scheduler sends an interval task one interval after beat starts (or after the
last run it remembers), so the first pass of `make run` came five minutes late. This one
sends the routine pass on its first tick, once per beat start, then keeps Celery's schedule.

On every tick it also writes a heartbeat to Redis (`BEAT_HEARTBEAT_KEY` on REDIS_URL): when
it ticked, by Redis's clock, and when the routine pass is next due. `xerosync status` reads
it to tell a running beat from a stopped one; a tick is at most `max_interval` seconds after
the last, so a heartbeat older than `BEAT_STALE_SECONDS` means beat is not running.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from celery.beat import PersistentScheduler

from celeryconfig import ROUTINE_PASS_ENTRY

log = logging.getLogger(__name__)

BEAT_HEARTBEAT_KEY = "xerosync:beat:heartbeat"
TICK_SECONDS = 15.0
"""Beat wakes at least this often (Celery's default is 300 s), so its heartbeat is fresh."""
BEAT_STALE_SECONDS = 3 * TICK_SECONDS
"""A heartbeat older than this: beat is not ticking."""
HEARTBEAT_TTL_SECONDS = 7 * 24 * 3600
"""Kept a week, so status can say how long beat has been gone."""


def redis_now(client: redis.Redis) -> datetime:
    """Redis's clock: beat and status may run on machines whose clocks differ."""
    seconds, micros = client.time()
    return datetime.fromtimestamp(seconds + micros / 1e6, UTC)


@dataclass(frozen=True)
class Heartbeat:
    """Beat's last tick as it wrote it."""

    at: datetime
    started_at: datetime
    next_pass_at: datetime | None
    hostname: str
    pid: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "at": self.at.isoformat(),
                "started_at": self.started_at.isoformat(),
                "next_pass_at": self.next_pass_at.isoformat() if self.next_pass_at else None,
                "hostname": self.hostname,
                "pid": self.pid,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Heartbeat:
        data = json.loads(raw)
        nxt = data.get("next_pass_at")
        return cls(
            at=datetime.fromisoformat(data["at"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            next_pass_at=datetime.fromisoformat(nxt) if nxt else None,
            hostname=str(data.get("hostname", "?")),
            pid=int(data.get("pid", 0)),
        )


def read_heartbeat(client: redis.Redis) -> Heartbeat | None:
    """Beat's last heartbeat, or None when no beat has ticked (in the last week)."""
    raw = client.get(BEAT_HEARTBEAT_KEY)
    if raw is None:
        return None
    try:
        return Heartbeat.from_json(raw)
    except (ValueError, KeyError, TypeError):
        return None


class Scheduler(PersistentScheduler):
    """`beat_scheduler` in celeryconfig: Celery's persistent scheduler, plus the first pass
    at start and a heartbeat per tick."""

    max_interval = TICK_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._first_pass_sent = False
        self._heartbeat_client: redis.Redis | None = None
        self._heartbeat_failing = False
        self._started_at: datetime | None = None
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._first_pass_sent:
            self._send_first_pass()
        delay = float(super().tick(*args, **kwargs))
        self._write_heartbeat()
        return min(delay, TICK_SECONDS)

    def _send_first_pass(self) -> None:
        """The routine pass now, not one interval from now; its next run is an interval
        later. Tried again on the next tick if the broker refused it."""
        entry = self.schedule.get(ROUTINE_PASS_ENTRY)
        if entry is None:
            self._first_pass_sent = True
            return
        try:
            self.apply_async(entry, producer=self.producer)  # advances the entry
        except Exception as exc:  # the broker is down: beat keeps going, tries next tick
            log.error("first routine pass not sent (%s); trying again next tick", exc)
            return
        finally:
            self._heap = None  # rebuilt from the advanced entry
        self._first_pass_sent = True
        log.info("first routine pass sent at start")

    def _next_pass_in(self) -> float | None:
        entry = self.schedule.get(ROUTINE_PASS_ENTRY)
        if entry is None:
            return None
        _due, next_in = entry.is_due()
        return float(next_in)

    def _client(self) -> redis.Redis:
        if self._heartbeat_client is None:
            from xerosync.settings import get_settings

            self._heartbeat_client = redis.Redis.from_url(
                get_settings().REDIS_URL, socket_timeout=2, socket_connect_timeout=2
            )
        return self._heartbeat_client

    def _write_heartbeat(self) -> None:
        """Never stops beat: a Redis that is away is logged once until it answers again."""
        try:
            client = self._client()
            now = redis_now(client)
            if self._started_at is None:
                self._started_at = now
            next_in = self._next_pass_in()
            beat = Heartbeat(
                at=now,
                started_at=self._started_at,
                next_pass_at=(
                    datetime.fromtimestamp(now.timestamp() + next_in, UTC)
                    if next_in is not None
                    else None
                ),
                hostname=socket.gethostname(),
                pid=os.getpid(),
            )
            client.set(BEAT_HEARTBEAT_KEY, beat.to_json(), ex=HEARTBEAT_TTL_SECONDS)
        except redis.RedisError as exc:
            if not self._heartbeat_failing:
                log.warning("beat heartbeat not written (Redis: %s); status will say so", exc)
            self._heartbeat_failing = True
            return
        self._heartbeat_failing = False
