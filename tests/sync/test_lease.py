"""Leases on the real Redis: exclusive, renewed while held, lapsing when their holder dies,
and taken over by the same task delivered again."""

from __future__ import annotations

import time

import redis

from xerosync.sync.lease import Acquired, Lease


def test_a_lease_is_exclusive_and_released(real_redis: redis.Redis) -> None:
    first = Lease(real_redis, "lease:t", ttl=5, owner="task-a")
    second = Lease(real_redis, "lease:t", ttl=5, owner="task-b")
    assert first.acquire() is Acquired.YES
    assert second.acquire() is Acquired.NO
    first.release()
    assert second.acquire() is Acquired.YES


def test_a_dead_holders_lease_lapses_by_itself(real_redis: redis.Redis) -> None:
    dead = Lease(real_redis, "lease:t", ttl=0.3, owner="task-a")
    assert dead.acquire()
    time.sleep(0.4)  # never renewed: its holder died
    assert Lease(real_redis, "lease:t", ttl=5, owner="task-b").acquire() is Acquired.YES


def test_the_same_task_delivered_again_takes_over(real_redis: redis.Redis) -> None:
    assert Lease(real_redis, "lease:t", ttl=30, owner="task-a").acquire()
    again = Lease(real_redis, "lease:t", ttl=30, owner="task-a")
    assert again.acquire() is Acquired.TAKEN_OVER
    assert Lease(real_redis, "lease:t", ttl=30, owner="task-ab").acquire() is Acquired.NO


def test_a_kept_alive_lease_outlives_its_ttl_and_is_released_after(
    real_redis: redis.Redis,
) -> None:
    lease = Lease(real_redis, "lease:t", ttl=0.3, owner="task-a")
    assert lease.acquire()
    with lease.kept_alive(every=0.05):
        time.sleep(0.6)
        assert Lease(real_redis, "lease:t", ttl=5).acquire() is Acquired.NO
    assert not lease.lost
    assert real_redis.exists("lease:t") == 0
