"""When each organisation's routine pass is due: idle organisations are polled less often, and
the day's polling fits in what the day's budget has left.

Why: a pass every 5 minutes with nothing changed costs 4 calls (one read per stream) x 288 =
1,152 calls a day, 23% of a standard organisation's 5,000 and more than a Starter
organisation's whole day (1,000). So:

* **Idle back-off.** After each pass that found nothing to do (no record in, none out) the
  organisation's interval doubles, from `SYNC_INTERVAL_SECONDS` up to
  `SYNC_IDLE_MAX_INTERVAL_SECONDS`. A pass that found anything puts it back to the base.
* **Woken at once.** A change on either side makes the organisation due at beat's next tick:
  a push or invoice task for it (the CRM side, `wake`), records found by the import (the pass
  was not idle), work waiting in the outbox (`has_pending_work`, checked by the fan-out).
  Invoice creation never waits for this: it has its own tasks.
* **Within the day.** From the budget's read-out (`RateBudget.day_left`) the interval is never
  shorter than the one at which idle passes until the day resets fit in `PLAN_SHARE` of what
  routine work has left (`budget_interval`); the invoice reserve is not routine work's to
  plan with, so it holds all day whatever the tier.

Beat keeps ticking every `SYNC_INTERVAL_SECONDS`; the fan-out asks `is_due` per organisation.
The planning functions are pure; the state is one small Redis hash per organisation
(`xerosync:cadence:<connection id>`). Lost state (Redis flushed) only means "due now".
Read-outs for `status`: `next_pass_due` and `current_interval`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import redis
from sqlalchemy import ColumnElement, exists, or_, select, union
from sqlalchemy.orm import Session

from xerosync.models import LinkKind, LinkStatus, Order, OrderStatus, XeroLink, utcnow

DELETABLE = ("DRAFT", "SUBMITTED")
"""Invoice statuses the pass deletes for a voided order (`routine.DELETABLE`)."""
IDLE_PASS_CALLS = 4
"""Calls of a pass that finds nothing: one read per stream (contacts, items, invoices, credit
notes; `pull.STREAMS`)."""
PLAN_SHARE = 0.8
"""The share of routine work's remaining day that idle polling may plan on; the rest is left
for what passes find (pages of changes, pushes)."""
DAY_SECONDS = 86_400.0
"""Xero's day window: the horizon of the plan when the budget does not know when it resets."""
STATE_TTL_SECONDS = 2 * 86_400
"""A connection's state outlives any interval; a removed connection's state goes by itself."""


class DayBudget(Protocol):
    """What the planner reads of `RateBudget.day_left(key)` (`DayLeft`)."""

    @property
    def routine_left(self) -> int: ...

    @property
    def resets_in(self) -> float | None: ...


# -- pure planning ---------------------------------------------------------------------------
def idle_interval(idle_passes: int, base: float, idle_max: float) -> float:
    """`base` doubled once per consecutive idle pass, never beyond `idle_max` (nor below base)."""
    ceiling = max(base, idle_max)
    if idle_passes <= 0:
        return float(base)
    if idle_passes >= 64:  # 2**64 x base is past any ceiling
        return float(ceiling)
    return float(min(ceiling, base * 2**idle_passes))


def budget_interval(
    routine_left: int,
    resets_in: float,
    *,
    calls_per_pass: int = IDLE_PASS_CALLS,
    share: float = PLAN_SHARE,
) -> float:
    """The shortest interval at which idle passes until the day resets fit in `share` of
    `routine_left`. When not one more pass fits, the wait is until the reset."""
    if resets_in <= 0:
        return 0.0
    passes = int(max(0, routine_left) * share) // calls_per_pass
    if passes < 1:
        return float(resets_in)
    return float(resets_in) / passes


def plan_interval(
    idle_passes: int,
    base: float,
    idle_max: float,
    day: DayBudget | None = None,
    *,
    day_seconds: float = DAY_SECONDS,
) -> float:
    """Seconds from the start of this pass to the next: the idle back-off, lengthened if the
    day's budget could not sustain it until it resets. When the budget does not know when
    Xero's day resets (only a daily 429 says), the plan covers a whole day window from now:
    the budget's own count holds the calls of the last window, so that much is always safe."""
    interval = idle_interval(idle_passes, base, idle_max)
    if day is not None:
        horizon = day.resets_in if day.resets_in is not None else day_seconds
        interval = max(interval, budget_interval(day.routine_left, horizon))
    return interval


# -- state ------------------------------------------------------------------------------------
def _key(connection_id: int) -> str:
    return f"xerosync:cadence:{connection_id}"


def _float(raw: bytes | str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def record_pass(
    client: redis.Redis,
    connection_id: int,
    *,
    idle: bool,
    started_at: float,
    base: float,
    idle_max: float,
    day: DayBudget | None = None,
    day_seconds: float = DAY_SECONDS,
) -> float:
    """After a completed pass: count it (idle or not), plan the next, return its interval.

    A wake that came while the pass ran (`wake` after `started_at`) counts as a change: the
    pass may have started before the CRM's change was saved.
    """
    key = _key(connection_id)
    planned: list[float] = []

    def update(pipe: redis.client.Pipeline) -> None:
        raw_idle, raw_woken = pipe.hmget(key, ["idle", "woken"])
        woken = _float(raw_woken)
        was_idle = idle and not (woken is not None and woken >= started_at)
        idle_passes = int(_float(raw_idle) or 0) + 1 if was_idle else 0
        interval = plan_interval(idle_passes, base, idle_max, day, day_seconds=day_seconds)
        planned[:] = [interval]
        pipe.multi()
        pipe.hset(
            key,
            mapping={
                "idle": idle_passes,
                "interval": interval,
                "due": started_at + interval,
                "last": started_at,
            },
        )
        pipe.expire(key, STATE_TTL_SECONDS)

    client.transaction(update, key)
    return planned[0]


def wake(client: redis.Redis, connection_id: int, now: float | None = None) -> None:
    """Something changed for this organisation: its pass is due at the next tick, and its
    back-off starts again from the base interval."""
    at = time.time() if now is None else now
    key = _key(connection_id)
    pipe = client.pipeline()
    pipe.hset(key, mapping={"idle": 0, "due": at, "woken": at})
    pipe.hdel(key, "interval")
    pipe.expire(key, STATE_TTL_SECONDS)
    pipe.execute()


def is_due(client: redis.Redis, connection_id: int, now: float, slack: float) -> bool:
    """Whether the organisation's pass is due at a tick at `now`. `slack` (half a tick) keeps a
    pass that is due a moment after the tick from waiting a whole tick more."""
    due = _float(client.hget(_key(connection_id), "due"))
    return due is None or now >= due - slack


def due_among(
    client: redis.Redis, connection_ids: Sequence[int], now: float, slack: float
) -> set[int]:
    """`is_due` for many organisations in one round trip (beat's fan-out: one pipelined HGET
    per organisation, not one round trip each)."""
    pipe = client.pipeline(transaction=False)
    for connection_id in connection_ids:
        pipe.hget(_key(connection_id), "due")
    planned = (_float(raw) for raw in pipe.execute())
    return {
        connection_id
        for connection_id, due in zip(connection_ids, planned, strict=True)
        if due is None or now >= due - slack
    }


def next_pass_due(client: redis.Redis, connection_id: int) -> datetime | None:
    """When the organisation's next routine pass is due (None: nothing planned, so at beat's
    next tick). For `status`."""
    due = _float(client.hget(_key(connection_id), "due"))
    return datetime.fromtimestamp(due, UTC) if due is not None else None


def current_interval(client: redis.Redis, connection_id: int, base: float) -> float:
    """The organisation's current interval between passes in seconds (`base`, i.e.
    SYNC_INTERVAL_SECONDS, when nothing is planned or it was just woken). For `status`."""
    interval = _float(client.hget(_key(connection_id), "interval"))
    return interval if interval is not None else float(base)


def idle_passes(client: redis.Redis, connection_id: int) -> int:
    """Consecutive passes that found nothing, for `status` and logs."""
    return int(_float(client.hget(_key(connection_id), "idle")) or 0)


# -- what makes a pass due at once --------------------------------------------------------------
def _held_invoice(now: datetime) -> ColumnElement[bool]:
    """The order's invoice is in error or deferred to later: not work for the next pass."""
    return exists().where(
        XeroLink.connection_id == Order.connection_id,
        XeroLink.kind == LinkKind.INVOICE.value,
        XeroLink.local_id == Order.id,
        or_(
            XeroLink.status == LinkStatus.ERROR.value,
            (XeroLink.status == LinkStatus.DEFERRED.value) & (XeroLink.retry_after > now),
        ),
    )


def pending_work_among(session: Session, connection_ids: Sequence[int]) -> set[int]:
    """The organisations among `connection_ids` whose outbox holds work (`has_pending_work`),
    in one query per thousand organisations: beat's fan-out asked once per organisation."""
    found: set[int] = set()
    now = utcnow()
    for start in range(0, len(connection_ids), 1000):
        chunk = list(connection_ids[start : start + 1000])
        records = select(XeroLink.connection_id).where(
            XeroLink.connection_id.in_(chunk),
            XeroLink.kind.in_((LinkKind.CONTACT.value, LinkKind.ITEM.value)),
            or_(
                XeroLink.status == LinkStatus.PENDING.value,
                (XeroLink.status == LinkStatus.DEFERRED.value)
                & or_(XeroLink.retry_after.is_(None), XeroLink.retry_after <= now),
            ),
        )
        to_invoice = select(Order.connection_id).where(
            Order.connection_id.in_(chunk),
            Order.status == OrderStatus.CONFIRMED.value,
            Order.xero_invoice_id.is_(None),
            ~_held_invoice(now),
        )
        to_delete = select(Order.connection_id).where(
            Order.connection_id.in_(chunk),
            Order.status == OrderStatus.VOIDED.value,
            Order.xero_invoice_id.is_not(None),
            Order.xero_invoice_status.in_(DELETABLE),
            ~_held_invoice(now),
        )
        found.update(int(i) for i in session.scalars(union(records, to_invoice, to_delete)))
    return found


def has_pending_work(session: Session, connection_id: int) -> bool:
    """Work the outbox holds for the next pass: a customer or product waiting for its push
    (pending, or deferred with its time come), a confirmed order without an invoice, a voided
    order whose Draft is not yet deleted (either not in error, nor deferred to later).

    One query; rows changed around the ORM (never marked) are found by the pass itself.
    """
    now = utcnow()
    due_link = or_(
        XeroLink.status == LinkStatus.PENDING.value,
        (XeroLink.status == LinkStatus.DEFERRED.value)
        & or_(XeroLink.retry_after.is_(None), XeroLink.retry_after <= now),
    )
    waiting_record = exists().where(
        XeroLink.connection_id == connection_id,
        XeroLink.kind.in_((LinkKind.CONTACT.value, LinkKind.ITEM.value)),
        due_link,
    )
    held_invoice = exists().where(
        XeroLink.connection_id == connection_id,
        XeroLink.kind == LinkKind.INVOICE.value,
        XeroLink.local_id == Order.id,
        or_(
            XeroLink.status == LinkStatus.ERROR.value,
            (XeroLink.status == LinkStatus.DEFERRED.value) & (XeroLink.retry_after > now),
        ),
    )
    order_to_invoice = exists().where(
        Order.connection_id == connection_id,
        Order.status == OrderStatus.CONFIRMED.value,
        Order.xero_invoice_id.is_(None),
        ~held_invoice,
    )
    draft_to_delete = exists().where(
        Order.connection_id == connection_id,
        Order.status == OrderStatus.VOIDED.value,
        Order.xero_invoice_id.is_not(None),
        Order.xero_invoice_status.in_(DELETABLE),
        ~held_invoice,
    )
    return bool(session.scalar(select(or_(waiting_record, order_to_invoice, draft_to_delete))))
