"""Beat's scheduler: the routine pass as beat starts, once per start, and a heartbeat per tick
that `xerosync status` reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

import celeryconfig
from xerosync.beat import BEAT_HEARTBEAT_KEY, TICK_SECONDS, Scheduler, read_heartbeat
from xerosync.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def beat_app(
    celery_app: Celery, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Celery]:
    monkeypatch.setenv("REDIS_URL", redis_url)  # the heartbeat's Redis
    get_settings.cache_clear()
    yield celery_app
    get_settings.cache_clear()


def routine_passes_sent(client: redis.Redis) -> list[str]:
    """Task names of the messages waiting in the `sync` queue (no worker runs here)."""
    names = []
    for raw in client.lrange(celeryconfig.SYNC_QUEUE, 0, -1):
        names.append(json.loads(raw)["headers"]["task"])
    return [n for n in names if n == celeryconfig.ROUTINE_PASS_TASK]


def start_beat(app: Celery, tmp_path: Path) -> Scheduler:
    return Scheduler(app, schedule_filename=str(tmp_path / "celerybeat-schedule"))


def test_beat_sends_the_routine_pass_at_start_once_per_start(
    beat_app: Celery, real_redis: redis.Redis, tmp_path: Path
) -> None:
    beat = start_beat(beat_app, tmp_path)
    delays = [beat.tick() for _ in range(3)]
    assert len(routine_passes_sent(real_redis)) == 1  # at once, not an interval later
    assert all(0 <= d <= TICK_SECONDS for d in delays)
    beat.close()

    # Restarted (its schedule file remembers the last run): again one pass at start.
    again = start_beat(beat_app, tmp_path)
    again.tick()
    again.tick()
    assert len(routine_passes_sent(real_redis)) == 2
    again.close()


def test_beat_writes_a_heartbeat_on_every_tick(
    beat_app: Celery, real_redis: redis.Redis, tmp_path: Path
) -> None:
    assert read_heartbeat(real_redis) is None
    beat = start_beat(beat_app, tmp_path)
    beat.tick()
    first = read_heartbeat(real_redis)
    assert first is not None
    beat.tick()
    second = read_heartbeat(real_redis)
    assert second is not None and second.at >= first.at
    assert second.started_at == first.started_at
    # The pass just sent: the next one is due about one interval later.
    assert second.next_pass_at is not None
    interval = get_settings().SYNC_INTERVAL_SECONDS
    ahead = (second.next_pass_at - second.at).total_seconds()
    assert interval - 60 < ahead <= interval
    assert real_redis.ttl(BEAT_HEARTBEAT_KEY) > 0
    beat.close()


def test_beat_keeps_ticking_when_its_redis_is_away(
    beat_app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    beat = start_beat(beat_app, tmp_path)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    assert 0 <= beat.tick() <= TICK_SECONDS  # no exception: the heartbeat is skipped
    beat.close()
