"""The shared, per-organisation rate budget in Redis: one atomic Lua script per decision.

Xero limits each organisation (tenant) to calls per minute, per day and in flight, across every
process of the app. Every request takes a permit here first; nobody sleeps waiting for one —
a refusal says, in seconds, when to come back, and the caller retries later or defers.

How a permit is decided (all in one script, so processes never race):

* closed — after Xero answered 429 the budget is shut for everyone until `Retry-After`.
* in flight — sorted sets of leases scored by expiry; a crashed worker's lease lapses by itself
  (and then counts as a call made at its lapse, below).
* minute/day, our own count — every permit counts from the moment it is granted until one
  window after its call ended (in flight, then in a bucket of its end time: buckets are a
  sixtieth of the window, and a bucket's calls count until one window after the last of them
  ended). Xero's windows are fixed, but each opens with the first call after the previous one
  closed, at a moment of Xero's choosing; whenever Xero's current window began, it began less
  than a window ago, so every call of ours it holds is among these. This count is never below
  Xero's count of our calls, whatever the phase of Xero's windows, and no report, lapse or
  call in flight across a boundary can make it so. Refusals say when enough of the oldest
  buckets leave the window. A call Xero answered without its rate-limit headers (which it
  sends on every call its limiter let through; an outage page, a refused token, as the
  sandbox does) is not counted; a call with no answer at all (timeout, dropped connection)
  may have reached Xero, and is.
* realigned by Xero — a response whose `X-MinLimit-Remaining` is the limit minus one says
  that Xero counts that call alone in its window: every call of ours that ended before that
  call was granted is outside Xero's current window (or Xero would have counted it), and is
  dropped from our count. So when Xero's window turns over, the first call of the new one
  opens the whole window to everyone instead of the old calls leaving one by one.
  (`X-DayLimit-Remaining` likewise for the day.)
* minute/day, Xero's count — the last `X-MinLimit-Remaining` / `X-DayLimit-Remaining` is
  mirrored (minus every permit granted since, given back by a call Xero did not count) and
  lives one window from the first report of a window (the day's: a day, or until a daily 429's
  `Retry-After`, below). It can only refuse more: it is what
  tells us of calls our count does not hold (another deployment on the same connection, a
  limit lower than configured such as the Starter tier's 1,000 a day, a Redis that lost its
  counts).
* reserve — a share of each limit is kept for invoice creation: routine work never uses it,
  while invoice calls use the reserve first and then whatever routine work left. The day's
  reserve is a share of the day limit in force (below) and holds for the whole day: routine
  work stops at the limit minus the reserve (and margin), invoices go on to the margin.
* invoices first — the reserve is a floor: with more confirmations than it holds, invoices
  would compete with routine work for the rest. So an invoice call refused for the minute (or
  an in-flight slot) marks the budget for its wait and a hold after it (the task retry's
  jitter and `invoice_hold_seconds`, at most a window): routine work takes no permit meanwhile
  (dimension "invoices"), and what frees up goes to the invoices. On the app's budget that
  holds every organisation's routine work for one organisation's invoice.
* margin — a call or two is never spent.
* the day limit by tier — Xero's day limit is 5,000 calls, but 1,000 on the Starter tier
  (XERO_FACTS §2), and nothing in a response names the tier. Our own count of the day holds
  every call Xero counts (above), so a report of `X-DayLimit-Remaining` r says the limit is at
  most r + our count: when that is below the configured limit, the limit is lower than
  configured. Xero's limits come by tier, so the learned limit is the largest known tier limit
  from r + 1 up to r + our count (the Starter tier's 1,000 whenever a Starter organisation
  reports, whatever the phase of its day), or r + our count itself when no tier fits (another
  deployment on the connection, a Redis that lost its counts). A tier is only taken when fewer
  calls than its limit are left, so a 5,000 organisation is taken for a Starter one only when
  fewer than 1,000 of its day are left and our count has lost (or never held) the rest; the
  rest of its day then keeps the Starter's reserve (200), still without a 429. It only ever
  lowers the limit in force, and lives until the day resets (a daily 429's `Retry-After` says
  when), or else one day window from when it was first learned. A learned limit too high is
  harmless (the mirror still bounds every call, and keeps the larger reserve). The day limit
  in force sets the day's reserve, the realignment (r = limit - 1) and `day_left`.
* the day's reset — a daily 429's `Retry-After` is when Xero's day window turns over: the day
  mirror, the learned limit and the budget's closure all end then (a mirror of "0 left" must
  not outlive the day it describes), and reports about calls granted before it cannot start a
  new mirror. The first call after it reports the limit minus one and realigns our count.
* the app — Xero also limits one app to 10,000 calls a minute across all its organisations
  (`X-AppMinLimit-Remaining`). That is a budget of its own, keyed by the app's client id, built
  from the same script (`app_limits`: its minute is the app's, nothing else binds): every call
  of every organisation takes a permit from its organisation's budget and then from the app's
  (given back uncounted if the app's refuses), and invoices take their reserve first there too.

Why our own count, and not the mirror, is what keeps us under Xero's limit (issue 12: two
tasks fetching the template contact got a 429 at a minute boundary, every run;
`tests/xero/test_budget_boundary.py` replays it against the sandbox, and
`test_budget.py::test_a_report_cannot_open_more_than_our_own_count_allows` with a controlled
clock). The mirror used to be the only authority while it existed, and a local fixed window
aligned to the epoch stood in while it did not. The mirror's life was measured from the first
report of *a* window, but a later report from Xero's *next* window moved its count on to that
window without moving its lapse. A slow call opened Xero's window W1 and its answer came back
1.5 s later, so the mirror lapsed 1.5 s after W1 ended; a call in between opened W2, work spent
W2 down to its last call, and the mirror lapsed in the middle of W2. The local window, whose
epoch-aligned boundary had just passed, counted nothing, so every task that came back at that
moment (each first fetching the template contact) was let through before any answer could
restore the mirror: Xero served one and refused the others. Any lapse of the mirror inside one
of Xero's windows did the same, since Xero's windows are not ours to align with; and
re-dating the mirror on a newer-looking report would not have closed it (a report looks newer
when two calls overtake each other in flight, and calls in flight across a boundary land in
either window). So the count that keeps us under the limit now bounds every possible phase of
Xero's windows, and Xero's reports only tighten it (the mirror) or realign it (above).

Correcting the mirror from headers is conservative: a response reports Xero's count when it
was served; every permit granted after that response's permit is subtracted, and a report
older than the last one applied can only lower the mirror, never raise it.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import redis

from xerosync.xero.errors import BudgetExhausted

Priority = Literal["invoice", "routine"]
PRIORITIES: tuple[str, ...] = ("invoice", "routine")
BUCKETS_PER_WINDOW = 60
"""Our own count keeps calls in buckets this fine: a call counts up to 1/60 window too long."""

_COMMON = """
local function now_ms(arg)
  local n = tonumber(arg)
  if n then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A call that ended (or whose lease lapsed) at `at` counts in the bucket of that moment, in
-- the day and the minute, and in routine work's own count when it was routine. A bucket is
-- two fields: `<index>` (calls) and `<index>t` (when the last of them ended).
-- Calls in one count's buckets that still count against a window ending at `now`.
local function held(key, ms, now)
  local raw = redis.call('HGETALL', key)
  local fields = {}
  for i = 1, #raw, 2 do fields[raw[i]] = raw[i + 1] end
  local total = 0
  for name, value in pairs(fields) do
    if string.sub(name, -1) ~= 't' and tonumber(fields[name .. 't'] or '0') + ms > now then
      total = total + tonumber(value)
    end
  end
  return total
end

-- The day limit in force: the configured one, or a lower one learned from Xero's reports.
local function day_limit(p, dlim)
  local learned = tonumber(redis.call('GET', p .. ':dlimit') or '')
  if learned and learned < dlim then return learned end
  return dlim
end

local function reserved(limit, share)
  if share <= 0 then return 0 end
  return math.ceil(limit * share)
end

local function tally(p, at, routine, dims)
  for _, d in ipairs(dims) do
    local keys = {p .. ':s' .. d[1]}
    if routine then keys[2] = p .. ':s' .. d[1] .. 'r' end
    local index = tostring(math.floor(at / d[3]))
    for _, key in ipairs(keys) do
      redis.call('HINCRBY', key, index, 1)
      local last = tonumber(redis.call('HGET', key, index .. 't') or '0')
      if at > last then redis.call('HSET', key, index .. 't', at) end
      redis.call('PEXPIRE', key, d[2] * 2 + d[3])
    end
  end
end
"""

_ACQUIRE_BODY = """
local p = KEYS[1]
local now = now_ms(ARGV[1])
local mlim, clim = tonumber(ARGV[2]), tonumber(ARGV[4])
local dlim = day_limit(p, tonumber(ARGV[3]))
local mms, dms = tonumber(ARGV[5]), tonumber(ARGV[6])
local rm, rd, rc = tonumber(ARGV[7]), reserved(dlim, tonumber(ARGV[8])), tonumber(ARGV[9])
local mm, md = tonumber(ARGV[10]), tonumber(ARGV[11])
local lease_ms, lease_id, cretry = tonumber(ARGV[12]), ARGV[13], tonumber(ARGV[14])
local routine = ARGV[15] == 'routine'
local mbw, dbw = tonumber(ARGV[16]), tonumber(ARGV[17])
local dims = {{'m', mms, mbw}, {'d', dms, dbw}}

local closed = redis.call('PTTL', p .. ':closed')
if closed > 0 then return {0, closed, 'closed', now} end

-- Invoices waiting: while an invoice call waits for the minute (or a slot), routine work
-- takes nothing, so what frees up goes to the invoices first (their reserve is a floor, this
-- makes them first in line beyond it).
local iwait = p .. ':iwait'
local hold_ms = tonumber(ARGV[18])
local held_until = tonumber(redis.call('GET', iwait) or '0')
if routine and held_until > now then return {0, held_until - now, 'invoices', now} end
local function invoice_waits(wait)
  if routine or hold_ms <= 0 then return end
  local hold = wait + math.min(math.ceil(wait * 0.2) + hold_ms, mms)
  if now + hold > held_until then redis.call('SET', iwait, now + hold, 'PX', hold) end
end

-- Leases that lapsed: the call may have reached Xero at any moment up to the lapse.
local lk, lrk = p .. ':leases', p .. ':leases:r'
local lapsed = redis.call('ZRANGEBYSCORE', lk, '-inf', now, 'WITHSCORES')
for i = 1, #lapsed, 2 do
  tally(p, tonumber(lapsed[i + 1]), redis.call('ZREM', lrk, lapsed[i]) == 1, dims)
end
redis.call('ZREMRANGEBYSCORE', lk, '-inf', now)
redis.call('ZREMRANGEBYSCORE', lrk, '-inf', now)
local inflight, inflight_r = redis.call('ZCARD', lk), redis.call('ZCARD', lrk)
if inflight + 1 > clim then
  invoice_waits(cretry)
  return {0, cretry, 'concurrent', now}
end
if routine and inflight_r + 1 > clim - rc then return {0, cretry, 'concurrent', now} end

-- Calls of ours that ended less than a window ago, by bucket, oldest first.
local function recent(key, ms)
  local raw = redis.call('HGETALL', key)
  local fields = {}
  for i = 1, #raw, 2 do fields[raw[i]] = raw[i + 1] end
  local total, kept = 0, {}
  for name, value in pairs(fields) do
    if string.sub(name, -1) ~= 't' then
      local last = tonumber(fields[name .. 't'] or '0')
      if last + ms <= now then
        redis.call('HDEL', key, name, name .. 't')
      else
        total = total + tonumber(value)
        kept[#kept + 1] = {last, tonumber(value)}
      end
    end
  end
  table.sort(kept, function(a, b) return a[1] < b[1] end)
  return total, kept
end

-- How long until `excess` of those calls have left the window (in-flight ones count for a
-- whole window once they end).
local function wait_for(kept, excess, ms)
  local freed = 0
  for _, e in ipairs(kept) do
    freed = freed + e[2]
    if freed >= excess then return math.max(1, e[1] + ms - now) end
  end
  return ms
end

-- One limit (minute or day): our own count of the last window, and Xero's if reported.
local function check(kind, lim, ms, reserve, margin)
  local wait = 0
  local total, kept = recent(p .. ':s' .. kind, ms)
  total = total + inflight
  local open = lim - margin
  if total + 1 > open then wait = wait_for(kept, total + 1 - open, ms) end
  if routine then
    local own, own_kept = recent(p .. ':s' .. kind .. 'r', ms)
    own = own + inflight_r
    open = lim - margin - reserve
    if own + 1 > open then wait = math.max(wait, wait_for(own_kept, own + 1 - open, ms)) end
  end
  local mirror = p .. ':x' .. kind
  local remaining = redis.call('GET', mirror)
  if remaining then
    remaining = tonumber(remaining)
    local keep = margin
    if routine then
      local used = tonumber(redis.call('GET', mirror .. ':inv') or '0')
      keep = margin + math.max(0, reserve - used)
    end
    if remaining - 1 < keep then wait = math.max(wait, redis.call('PTTL', mirror), 1) end
  end
  return wait
end

local wait = check('d', dlim, dms, rd, md)
if wait > 0 then return {0, wait, 'day', now} end
wait = check('m', mlim, mms, rm, mm)
if wait > 0 then
  invoice_waits(wait)
  return {0, wait, 'minute', now}
end

for _, kind in ipairs({'m', 'd'}) do
  local mirror = p .. ':x' .. kind
  if redis.call('EXISTS', mirror) == 1 then
    redis.call('DECR', mirror)
    if not routine then redis.call('INCR', mirror .. ':inv') end
  end
end

local seq = redis.call('INCR', p .. ':seq')
redis.call('ZADD', lk, now + lease_ms, lease_id)
redis.call('PEXPIRE', lk, lease_ms * 2)
if routine then
  redis.call('ZADD', lrk, now + lease_ms, lease_id)
  redis.call('PEXPIRE', lrk, lease_ms * 2)
end
return {1, seq, 'ok', now}
"""

_SETTLE_BODY = """
local p = KEYS[1]
local lease_id, seq = ARGV[1], tonumber(ARGV[2])
local mms, dms, granted = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms(ARGV[8])
local mbw, dbw = tonumber(ARGV[10]), tonumber(ARGV[11])
local mlim, dlim = tonumber(ARGV[12]), tonumber(ARGV[13])
local counted = ARGV[14] == '1'
-- ARGV[15] unused; ARGV[16]: known day limits of Xero's tiers, comma-separated.
local was_routine = redis.call('ZREM', p .. ':leases:r', lease_id) == 1
-- This call is tallied after the realignment below, so that calls of ours sharing its bucket
-- that ended before it was granted are dropped with their bucket (a day bucket is 24 minutes).
local this = (redis.call('ZREM', p .. ':leases', lease_id) == 1 and counted) and 1 or 0

-- Xero counts this call alone in its window: none of ours that ended before it was granted is
-- in Xero's current window (it would have been counted), nor in any later one.
local function forget_before(kind, remaining, lim)
  if remaining == '' or tonumber(remaining) ~= lim - 1 then return end
  for _, key in ipairs({p .. ':s' .. kind, p .. ':s' .. kind .. 'r'}) do
    local raw = redis.call('HGETALL', key)
    for i = 1, #raw, 2 do
      local name = raw[i]
      if string.sub(name, -1) == 't' and tonumber(raw[i + 1]) < granted then
        redis.call('HDEL', key, name, string.sub(name, 1, -2))
      end
    end
  end
end
local meta = p .. ':xmeta'

-- When the day window resets, if a daily 429 said so; else nil.
local function reset_in()
  local at = tonumber(redis.call('HGET', meta, 'd:reset') or '')
  if at and at > now then return at - now end
  return nil
end

-- A day report r says the limit is at most r + our count of the day (which holds every call
-- Xero counts): below the limit in force, that is a lower limit (the Starter tier's). Known
-- tier limits above r and within that bound are what it can be; the largest is taken.
local function learn_day(remaining)
  if remaining == '' then return end
  local r = tonumber(remaining)
  local implied = r + held(p .. ':sd', dms, now) + redis.call('ZCARD', p .. ':leases') + this
  if implied >= day_limit(p, dlim) then return end
  local limit = implied
  local best = nil
  for tier in string.gmatch(ARGV[16], '%d+') do
    local t = tonumber(tier)
    if t > r and t <= implied and (best == nil or t > best) then best = t end
  end
  if best then limit = best end
  local key = p .. ':dlimit'
  if redis.call('EXISTS', key) == 1 then
    redis.call('SET', key, limit, 'KEEPTTL')
  else
    redis.call('SET', key, limit, 'PX', reset_in() or dms)
  end
end
learn_day(ARGV[4])
dlim = day_limit(p, dlim)

forget_before('m', ARGV[3], mlim)
forget_before('d', ARGV[4], dlim)
if this == 1 then tally(p, now, was_routine, {{'m', mms, mbw}, {'d', dms, dbw}}) end
local after = tonumber(redis.call('GET', p .. ':seq') or '0') - seq

-- A call Xero did not count gives back what its permit took from a mirror it found.
if not counted then
  for _, d in ipairs({{'m', mms}, {'d', dms}}) do
    local mirror = p .. ':x' .. d[1]
    local born = tonumber(redis.call('HGET', meta, d[1] .. ':exp') or '0') - d[2]
    if redis.call('EXISTS', mirror) == 1 and granted >= born then
      redis.call('INCR', mirror)
      if ARGV[9] == 'invoice' and tonumber(redis.call('GET', mirror .. ':inv') or '0') > 0 then
        redis.call('DECR', mirror .. ':inv')
      end
    end
  end
end
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
    if kind == 'd' then ttl = math.min(ttl, reset_in() or ttl) end
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


_CLOSE_BODY = """
local p = KEYS[1]
local key = p .. ':closed'
local ms = tonumber(ARGV[1])
if redis.call('PTTL', key) < ms then redis.call('SET', key, ARGV[2], 'PX', ms) end
-- A daily 429's Retry-After is when Xero's day turns over: what we know of this day ends then.
if ARGV[2] == 'day' then
  local now = now_ms(ARGV[3])
  local meta = p .. ':xmeta'
  redis.call('HSET', meta, 'd:reset', now + ms, 'd:exp', now + ms)
  if redis.call('PTTL', meta) < ms * 2 then redis.call('PEXPIRE', meta, ms * 2) end
  for _, k in ipairs({p .. ':xd', p .. ':xd:inv', p .. ':dlimit'}) do
    if redis.call('EXISTS', k) == 1 then redis.call('PEXPIRE', k, ms) end
  end
end
return ms
"""

_DAY_LEFT_BODY = """
local p = KEYS[1]
local now = now_ms(ARGV[1])
local dlim, dms, md = day_limit(p, tonumber(ARGV[2])), tonumber(ARGV[3]), tonumber(ARGV[4])
local reserve = reserved(dlim, tonumber(ARGV[5]))
local used = held(p .. ':sd', dms, now) + redis.call('ZCARD', p .. ':leases')
local used_r = held(p .. ':sdr', dms, now) + redis.call('ZCARD', p .. ':leases:r')
local invoice_left = dlim - md - used
local routine_left = math.min(invoice_left, dlim - md - reserve - used_r)
local mirror = tonumber(redis.call('GET', p .. ':xd') or '')
if mirror then
  used = math.max(used, dlim - mirror)
  local spent = tonumber(redis.call('GET', p .. ':xd:inv') or '0')
  invoice_left = math.min(invoice_left, mirror - md)
  routine_left = math.min(routine_left, mirror - md - math.max(0, reserve - spent))
end
local reset = tonumber(redis.call('HGET', p .. ':xmeta', 'd:reset') or '')
if reset == nil or reset <= now then reset = -1 else reset = reset - now end
return {dlim, math.min(used, dlim), math.max(0, routine_left), math.max(0, invoice_left), reset}
"""

_ACQUIRE = _COMMON + _ACQUIRE_BODY
_SETTLE = _COMMON + _SETTLE_BODY
_CLOSE = _COMMON + _CLOSE_BODY
_DAY_LEFT = _COMMON + _DAY_LEFT_BODY


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
    invoice_hold_seconds: float = 2.0
    """After an invoice call is refused for the minute or a slot, routine work takes no permit
    until its wait is over and this long after (it comes back by a task retry, 10% jitter
    included): what frees up goes to the invoice. 0: the reserve alone (a floor)."""
    known_day_limits: tuple[int, ...] = (1000, 5000)
    """Xero's day limits by tier (Starter 1,000; every other tier 5,000): what a day limit
    lower than `day`, learned from Xero's reports, can be (see the module docstring)."""

    def __post_init__(self) -> None:
        if not 0 <= self.invoice_share < 1:
            raise ValueError("invoice_share must be from 0 up to (not including) 1")
        if min(self.minute, self.day, self.concurrent) <= 0 or self.minute_seconds <= 0:
            raise ValueError("limits and window lengths must be above 0")
        if self.routine_minute <= 0 or self.routine_concurrent <= 0:
            raise ValueError("with this share and margin routine work would get no permits")
        if any(int(n) != n or n <= 0 for n in self.known_day_limits):
            raise ValueError("known_day_limits are whole numbers of calls above 0")

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


def app_limits(
    minute: int = 10000,
    *,
    minute_seconds: float = 60.0,
    invoice_share: float = 0.2,
    lease_seconds: float = 120.0,
) -> BudgetLimits:
    """Limits of the app-wide budget (every organisation of one app): Xero's app minute limit;
    the day and in-flight limits are set where they never bind (in-flight calls count against
    the minute anyway)."""
    return BudgetLimits(
        minute=minute,
        day=minute * 1440,
        concurrent=minute,
        minute_seconds=minute_seconds,
        invoice_share=invoice_share,
        day_margin=0,
        lease_seconds=lease_seconds,
        known_day_limits=(),
    )


@dataclass(frozen=True)
class DayLeft:
    """One organisation's day as the budget sees it.

    `limit`: the day limit in force (configured, or lower as learned from Xero). `used`: calls
    that count against it (the larger of our own count and Xero's last report). `routine_left`
    / `invoice_left`: permits routine / invoice work can still get today (routine's stop at the
    reserve). `resets_in`: seconds until Xero's day window resets, when a daily 429 said so."""

    limit: int
    used: int
    routine_left: int
    invoice_left: int
    resets_in: float | None


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
        self._day_left = client.register_script(_DAY_LEFT)

    def _key(self, org: str) -> str:
        return f"{self.prefix}:{{{org}}}"

    def _now_arg(self) -> str:
        return "" if self.clock is None else str(int(self.clock() * 1000))

    def _windows_ms(self) -> tuple[int, int]:
        return (
            max(1, int(self.limits.minute_seconds * 1000)),
            max(1, int(self.limits.day_window * 1000)),
        )

    def _buckets_ms(self) -> tuple[int, int]:
        minute_ms, day_ms = self._windows_ms()
        return max(1, minute_ms // BUCKETS_PER_WINDOW), max(1, day_ms // BUCKETS_PER_WINDOW)

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
                lim.invoice_share,
                lim.reserved(lim.concurrent),
                lim.minute_margin,
                lim.day_margin,
                max(1, int(lim.lease_seconds * 1000)),
                lease_id,
                max(1, int(lim.concurrent_retry_seconds * 1000)),
                priority,
                *self._buckets_ms(),
                max(0, int(lim.invoice_hold_seconds * 1000)),
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
        counted: bool = True,
    ) -> None:
        """Give the in-flight permit back and correct the budget from Xero's headers.

        Safe to call twice. Pass the remaining counts only from responses Xero actually sent.
        `counted=False`: Xero answered without its rate-limit headers (which it sends on every
        call its limiter let through: an outage page, a refused token), so the call does not
        count against our own count of the window. Without an answer (a timeout, a dropped
        connection) the call may have reached Xero: it counts.
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
                *self._buckets_ms(),
                self.limits.minute,
                self.limits.day,
                1 if counted else 0,
                "",
                ",".join(str(n) for n in self.limits.known_day_limits),
            ],
        )

    def close(self, org: str, retry_after: float, limit: str = "unknown") -> None:
        """Shut the budget for everyone until `retry_after` seconds from now (after a 429)."""
        ms = max(1, math.ceil(retry_after * 1000))
        self._close(keys=[self._key(org)], args=[ms, limit, self._now_arg()])

    def day_left(self, key: str) -> DayLeft:
        """What is left of `key`'s day, as the next permits would be decided (for the pass
        planner and status). Minute and in-flight limits are not part of it."""
        lim = self.limits
        _, day_ms = self._windows_ms()
        limit, used, routine, invoice, reset_ms = self._day_left(
            keys=[self._key(key)],
            args=[self._now_arg(), lim.day, day_ms, lim.day_margin, lim.invoice_share],
        )
        return DayLeft(
            limit=int(limit),
            used=int(used),
            routine_left=int(routine),
            invoice_left=int(invoice),
            resets_in=None if int(reset_ms) < 0 else int(reset_ms) / 1000,
        )

    @contextmanager
    def permit(self, org: str, priority: str = "routine") -> Iterator[Permit]:
        """`with budget.permit(org):` — acquire (or raise BudgetExhausted), always release."""
        granted = self.acquire(org, priority)
        try:
            yield granted
        finally:
            self.release(granted)

    def snapshot(self, org: str) -> dict[str, Any]:
        """Current counters, for diagnostics and the bench (not used for decisions).

        `minute_used` / `day_used`: our calls that count against the current window (in
        flight, or ended less than a window ago)."""
        key = self._key(org)
        now = self.clock() if self.clock else _redis_time(self.redis)
        now_ms = int(now * 1000)
        in_flight = int(self.redis.zcount(f"{key}:leases", now_ms, "+inf"))
        used = [
            in_flight + _recent(self.redis.hgetall(f"{key}:s{kind}"), window, now_ms)
            for kind, window in zip("md", self._windows_ms(), strict=True)
        ]
        xm, xd, seq = (
            None if v is None else int(v)
            for v in self.redis.mget([f"{key}:xm", f"{key}:xd", f"{key}:seq"])
        )
        return {
            "minute_used": used[0],
            "day_used": used[1],
            "xero_minute_remaining": xm,
            "xero_day_remaining": xd,
            "in_flight": in_flight,
            "closed_for": max(0, int(self.redis.pttl(f"{key}:closed"))) / 1000,
            "permits_total": seq or 0,
        }


def _recent(buckets: Mapping[Any, Any], window_ms: int, now_ms: int) -> int:
    """Calls in one count's buckets that still count against a window ending now."""
    fields = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in buckets.items()}
    return sum(
        n
        for name, n in fields.items()
        if not name.endswith("t") and fields.get(name + "t", 0) + window_ms > now_ms
    )


def _redis_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1_000_000
