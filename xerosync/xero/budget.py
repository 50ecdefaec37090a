"""The shared, per-organisation rate budget in Redis: one atomic Lua script per decision.

Xero limits each organisation (tenant) to calls per minute, per day and in flight, across every
process of the app. Every request takes a permit here first; nobody sleeps waiting for one —
a refusal says, in seconds, when to come back, and the caller retries later or defers.

How a permit is decided (all in one script, so processes never race):

* closed — after Xero answered 429 the budget is shut for everyone until `Retry-After`.
* in flight — sorted sets of leases scored by expiry; a crashed worker's lease lapses by itself.
* minute/day — Xero's own count is authoritative: the last `X-MinLimit-Remaining` /
  `X-DayLimit-Remaining` is mirrored (minus every permit granted since), and the mirror lives
  one window from the first report of a window, so it can only lapse after Xero's window has
  reset. Xero's windows start when Xero decides, not on our clock. While no mirror exists
  (first calls, after a lapse) fixed local windows of settable length (`minute_seconds`, for
  time-scaled tests) stand in.
* reserve — a share of each limit is kept for invoice creation: routine work never uses it,
  while invoice calls use the reserve first and then whatever routine work left.
* margin — a call or two is never spent, so small reorderings between processes cannot tip a
  budget-following client into a 429.

Correcting from headers is conservative: a response reports Xero's count when it was served;
every permit granted after that response's permit is subtracted, and a report older than the
last one applied can only lower the mirror, never raise it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import redis

from xerosync.xero.errors import BudgetExhausted

Priority = Literal["invoice", "routine"]
PRIORITIES: tuple[str, ...] = ("invoice", "routine")

_ACQUIRE = """
local p = KEYS[1]
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local mlim, dlim, clim = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local mms, dms = tonumber(ARGV[5]), tonumber(ARGV[6])
local rm, rd, rc = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local mm, md = tonumber(ARGV[10]), tonumber(ARGV[11])
local lease_ms, lease_id, cretry = tonumber(ARGV[12]), ARGV[13], tonumber(ARGV[14])
local routine = ARGV[15] == 'routine'

local closed = redis.call('PTTL', p .. ':closed')
if closed > 0 then return {0, closed, 'closed', now} end

local lk, lrk = p .. ':leases', p .. ':leases:r'
redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
redis.call('ZREMRANGEBYSCORE', lrk, '-inf', now)
if redis.call('ZCARD', lk) + 1 > clim then return {0, cretry, 'concurrent', now} end
if routine and redis.call('ZCARD', lrk) + 1 > clim - rc then
  return {0, cretry, 'concurrent', now}
end

-- One limit (minute or day): Xero's mirrored count if there is one, else the local window.
local function check(kind, lim, ms, reserve, margin)
  local mirror = p .. ':x' .. kind
  local remaining = redis.call('GET', mirror)
  if remaining then
    remaining = tonumber(remaining)
    local keep = margin
    if routine then
      local used = tonumber(redis.call('GET', mirror .. ':inv') or '0')
      keep = margin + math.max(0, reserve - used)
    end
    if remaining - 1 < keep then
      return math.max(redis.call('PTTL', mirror), 1)
    end
    return 0
  end
  local win = math.floor(now / ms)
  local total = tonumber(redis.call('GET', p .. ':' .. kind .. ':' .. win) or '0')
  if total + 1 > lim - margin then return (win + 1) * ms - now end
  if routine then
    local own = tonumber(redis.call('GET', p .. ':' .. kind .. 'r:' .. win) or '0')
    if own + 1 > lim - margin - reserve then return (win + 1) * ms - now end
  end
  return 0
end

local wait = check('d', dlim, dms, rd, md)
if wait > 0 then return {0, wait, 'day', now} end
wait = check('m', mlim, mms, rm, mm)
if wait > 0 then return {0, wait, 'minute', now} end

local function count(kind, ms)
  local win = math.floor(now / ms)
  local key = p .. ':' .. kind .. ':' .. win
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ms * 2) end
  if routine then
    key = p .. ':' .. kind .. 'r:' .. win
    if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ms * 2) end
  end
  local mirror = p .. ':x' .. kind
  if redis.call('EXISTS', mirror) == 1 then
    redis.call('DECR', mirror)
    if not routine then redis.call('INCR', mirror .. ':inv') end
  end
end
count('d', dms)
count('m', mms)

local seq = redis.call('INCR', p .. ':seq')
redis.call('ZADD', lk, now + lease_ms, lease_id)
redis.call('PEXPIRE', lk, lease_ms * 2)
if routine then
  redis.call('ZADD', lrk, now + lease_ms, lease_id)
  redis.call('PEXPIRE', lrk, lease_ms * 2)
end
return {1, seq, 'ok', now}
"""

_SETTLE = """
local p = KEYS[1]
local lease_id, seq = ARGV[1], tonumber(ARGV[2])
local mms, dms, granted = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = tonumber(ARGV[8])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZREM', p .. ':leases', lease_id)
redis.call('ZREM', p .. ':leases:r', lease_id)
local after = tonumber(redis.call('GET', p .. ':seq') or '0') - seq
local meta = p .. ':xmeta'
local function correct(kind, remaining, ttl)
  if remaining == '' then return end
  local key = p .. ':x' .. kind
  local est = tonumber(remaining) - after
  local cur = redis.call('GET', key)
  local last = tonumber(redis.call('HGET', meta, kind .. ':seq') or '-1')
  if not cur then
    -- A report about a call made before the last mirror lapsed may describe Xero's previous
    -- window: it must not start a new mirror.
    local lapsed = tonumber(redis.call('HGET', meta, kind .. ':exp') or '0')
    if granted < lapsed then return end
    redis.call('SET', key, est, 'PX', ttl)
    redis.call('SET', key .. ':inv', ARGV[9] == 'invoice' and 1 or 0, 'PX', ttl)
    redis.call('HSET', meta, kind .. ':seq', seq, kind .. ':exp', now + ttl)
  elseif seq > last then
    redis.call('SET', key, est, 'KEEPTTL')
    redis.call('HSET', meta, kind .. ':seq', seq)
  elseif est < tonumber(cur) then
    redis.call('SET', key, est, 'KEEPTTL')
  end
end
correct('m', ARGV[3], mms)
correct('d', ARGV[4], dms)
redis.call('PEXPIRE', meta, dms * 2)
return after
"""


_CLOSE = """
local key = KEYS[1] .. ':closed'
local ms = tonumber(ARGV[1])
if redis.call('PTTL', key) < ms then redis.call('SET', key, ARGV[2], 'PX', ms) end
return ms
"""


@dataclass(frozen=True)
class BudgetLimits:
    """Limits and tuning of one organisation's budget (defaults: Xero's published limits)."""

    minute: int = 60
    day: int = 5000
    concurrent: int = 5
    minute_seconds: float = 60.0
    day_seconds: float | None = None
    """Length of the day window; default 1440 minutes of `minute_seconds` (time-scales too)."""
    invoice_share: float = 0.2
    minute_margin: int = 1
    day_margin: int = 2
    lease_seconds: float = 120.0
    """How long an unreleased in-flight permit counts; longer than any request can take."""
    concurrent_retry_seconds: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.invoice_share < 1:
            raise ValueError("invoice_share must be from 0 up to (not including) 1")
        if min(self.minute, self.day, self.concurrent) <= 0 or self.minute_seconds <= 0:
            raise ValueError("limits and window lengths must be above 0")
        if self.routine_minute <= 0 or self.routine_concurrent <= 0:
            raise ValueError("with this share and margin routine work would get no permits")

    @property
    def day_window(self) -> float:
        return self.day_seconds if self.day_seconds is not None else self.minute_seconds * 1440

    def reserved(self, limit: int) -> int:
        """Calls of `limit` kept for invoice creation (at least one when the share is > 0)."""
        return math.ceil(limit * self.invoice_share) if self.invoice_share > 0 else 0

    @property
    def routine_minute(self) -> int:
        """Calls per minute window open to routine work."""
        return self.minute - self.reserved(self.minute) - self.minute_margin

    @property
    def routine_concurrent(self) -> int:
        return self.concurrent - self.reserved(self.concurrent)


@dataclass(frozen=True)
class Permit:
    """Leave to make one request. Release it (with the response headers) when the call ends."""

    org: str
    priority: str
    lease_id: str
    seq: int
    granted_at: float


@dataclass(frozen=True)
class Denial:
    """No permit now; `retry_after` seconds from now is the earliest worth trying again."""

    org: str
    priority: str
    dimension: str
    retry_after: float

    def error(self) -> BudgetExhausted:
        return BudgetExhausted(
            dimension=self.dimension, retry_after=self.retry_after, priority=self.priority
        )


class RateBudget:
    """Per-organisation permits shared by every process through one Redis.

    `clock` (epoch seconds) is for tests; by default the Redis server's clock is used so that
    all processes agree on window boundaries.
    """

    def __init__(
        self,
        client: redis.Redis,
        limits: BudgetLimits | None = None,
        *,
        prefix: str = "xerosync:budget",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.redis = client
        self.limits = limits or BudgetLimits()
        self.prefix = prefix
        self.clock = clock
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)
        self._close = client.register_script(_CLOSE)

    def _key(self, org: str) -> str:
        return f"{self.prefix}:{{{org}}}"

    def _now_arg(self) -> str:
        return "" if self.clock is None else str(int(self.clock() * 1000))

    def _windows_ms(self) -> tuple[int, int]:
        return (
            max(1, int(self.limits.minute_seconds * 1000)),
            max(1, int(self.limits.day_window * 1000)),
        )

    def try_acquire(self, org: str, priority: str = "routine") -> Permit | Denial:
        """A permit, or a Denial saying which limit and when to come back. Never blocks."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
        lim = self.limits
        minute_ms, day_ms = self._windows_ms()
        lease_id = secrets.token_hex(8)
        result: Any = self._acquire(
            keys=[self._key(org)],
            args=[
                self._now_arg(),
                lim.minute,
                lim.day,
                lim.concurrent,
                minute_ms,
                day_ms,
                lim.reserved(lim.minute),
                lim.reserved(lim.day),
                lim.reserved(lim.concurrent),
                lim.minute_margin,
                lim.day_margin,
                max(1, int(lim.lease_seconds * 1000)),
                lease_id,
                max(1, int(lim.concurrent_retry_seconds * 1000)),
                priority,
            ],
        )
        granted, value, reason, now_ms = result
        if int(granted) == 1:
            return Permit(org, priority, lease_id, int(value), int(now_ms) / 1000)
        dimension = reason.decode() if isinstance(reason, bytes) else str(reason)
        return Denial(org, priority, dimension, max(0.001, int(value) / 1000))

    def acquire(self, org: str, priority: str = "routine") -> Permit:
        """A permit, or `BudgetExhausted` (with `retry_after`) at once."""
        outcome = self.try_acquire(org, priority)
        if isinstance(outcome, Denial):
            raise outcome.error()
        return outcome

    def release(
        self,
        permit: Permit,
        *,
        min_remaining: int | None = None,
        day_remaining: int | None = None,
    ) -> None:
        """Give the in-flight permit back and correct the budget from Xero's headers.

        Safe to call twice. Pass the remaining counts only from responses Xero actually sent.
        """
        minute_ms, day_ms = self._windows_ms()
        self._settle(
            keys=[self._key(permit.org)],
            args=[
                permit.lease_id,
                permit.seq,
                "" if min_remaining is None else int(min_remaining),
                "" if day_remaining is None else int(day_remaining),
                minute_ms,
                day_ms,
                round(permit.granted_at * 1000),
                self._now_arg(),
                permit.priority,
            ],
        )

    def close(self, org: str, retry_after: float, limit: str = "unknown") -> None:
        """Shut the budget for everyone until `retry_after` seconds from now (after a 429)."""
        ms = max(1, math.ceil(retry_after * 1000))
        self._close(keys=[self._key(org)], args=[ms, limit])

    @contextmanager
    def permit(self, org: str, priority: str = "routine") -> Iterator[Permit]:
        """`with budget.permit(org):` — acquire (or raise BudgetExhausted), always release."""
        granted = self.acquire(org, priority)
        try:
            yield granted
        finally:
            self.release(granted)

    def snapshot(self, org: str) -> dict[str, Any]:
        """Current counters, for diagnostics and the bench (not used for decisions)."""
        key = self._key(org)
        now = self.clock() if self.clock else _redis_time(self.redis)
        minute_ms, day_ms = self._windows_ms()
        now_ms = int(now * 1000)
        values = self.redis.mget(
            [
                f"{key}:m:{now_ms // minute_ms}",
                f"{key}:d:{now_ms // day_ms}",
                f"{key}:xm",
                f"{key}:xd",
                f"{key}:seq",
            ]
        )
        minute, day, xm, xd, seq = (None if v is None else int(v) for v in values)
        return {
            "minute_used": minute or 0,
            "day_used": day or 0,
            "xero_minute_remaining": xm,
            "xero_day_remaining": xd,
            "in_flight": int(self.redis.zcount(f"{key}:leases", now_ms, "+inf")),
            "closed_for": max(0, int(self.redis.pttl(f"{key}:closed"))) / 1000,
            "permits_total": seq or 0,
        }


def _redis_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1_000_000
