"""Leases: Redis locks that lapse soon after their holder dies.

A lock with a long timeout outlives a killed worker by that timeout (a dead pass used to block
its organisation for 30 minutes). A lease is short instead (`ttl`, seconds) and kept alive by a
thread of its holder while the work goes on (`kept_alive`), so it lapses within `ttl` of the
holder's death, whatever the work's length.

The lease names its holder (`owner`, a task id). A task delivered again after its worker died
has the same id: it may take over the lease its dead incarnation left (`acquire` answers
`Acquired.TAKEN_OVER`) instead of waiting for the lapse and being skipped as "already running".
"""

from __future__ import annotations

import enum
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if not current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
local owner = ARGV[3]
if owner ~= '' and string.sub(current, 1, string.len(owner) + 1) == owner .. '|' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Acquired(enum.IntEnum):
    NO = 0
    """Someone else holds it (and is alive, or died less than `ttl` ago)."""
    YES = 1
    TAKEN_OVER = 2
    """It was held by an earlier incarnation of the same owner, which died holding it."""


class Lease:
    """A non-blocking, self-lapsing lock on `key`, held by `owner` (a task id, or None)."""

    def __init__(
        self, client: redis.Redis, key: str, *, ttl: float, owner: str | None = None
    ) -> None:
        self.client = client
        self.key = key
        self.ttl = ttl
        self.owner = owner or ""
        self.value = f"{self.owner}|{secrets.token_hex(8)}"
        self.lost = False
        """Set when a renewal found the lease gone (it lapsed, or Redis lost it)."""

    @property
    def _ms(self) -> int:
        return max(1, int(self.ttl * 1000))

    def acquire(self) -> Acquired:
        answer = self.client.eval(_ACQUIRE, 1, self.key, self.value, self._ms, self.owner)
        return Acquired(int(answer))

    def renew(self) -> bool:
        """Push the lapse `ttl` further; False if the lease is no longer ours."""
        kept = bool(self.client.eval(_RENEW, 1, self.key, self.value, self._ms))
        if not kept:
            self.lost = True
        return kept

    def release(self) -> None:
        try:
            self.client.eval(_RELEASE, 1, self.key, self.value)
        except redis.RedisError as exc:  # it lapses by itself
            log.warning("could not release lease %s: %s", self.key, exc)

    @contextmanager
    def kept_alive(self, every: float | None = None) -> Iterator[Lease]:
        """Renew the (acquired) lease every `every` seconds (a third of `ttl`) until the
        block ends, then release it. A renewal that fails is logged; the work goes on."""
        stop = threading.Event()
        interval = every if every is not None else self.ttl / 3

        def renew_until_stopped() -> None:
            while not stop.wait(interval):
                try:
                    if not self.renew():
                        log.warning("lease %s lapsed; another holder may start", self.key)
                except redis.RedisError as exc:
                    log.warning("could not renew lease %s: %s", self.key, exc)

        thread = threading.Thread(target=renew_until_stopped, name=f"lease:{self.key}")
        thread.daemon = True
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=interval + 1)
            self.release()
