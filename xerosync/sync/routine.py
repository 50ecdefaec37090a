"""The routine pass of one organisation: bring Xero's changes in, push the CRM's out.

Order, and why:
1. **contacts, items in** — first, so pushes match new customers against what Xero already
   holds (no duplicates) and a record changed on both sides is settled before anything is sent;
2. **pending customers and products out** — the outbox: everything saved since the last pass
   that no task delivered (broker down, deferred by a rate limit), in batches of 50;
3. **confirmed orders without an invoice** — the outbox of confirmations: an order whose
   task was lost (broker down or restarted, a worker killed past redelivery) or deferred is
   invoiced here, with the same exactly-once rules as the task (orders in error wait for an
   operator; deferred ones for their time);
4. **drafts of CRM-voided orders deleted** — the CRM voided the order and Xero still holds
   its invoice as a Draft: delete it so both agree (an authorised invoice is left alone and
   the order says why);
5. **invoices, credit notes in** — last, so the pass also reads back what steps 2-4 changed
   (a deleted Draft comes back as "D" in the same pass).

After a completed pass the organisation's next one is planned (`sync.cadence`): sooner when the
pass found something to do, later after passes that found nothing, and never so often that
idle polling would outrun the day's budget before it resets.

One pass at a time per organisation: a non-blocking Redis *lease* (`sync.lease`), renewed by
the pass while it works and lapsing `SYNC_PASS_LEASE_SECONDS` (30 s) after its worker dies.
A tick that finds a live pass does nothing; the same task delivered again after its worker
was killed takes over its dead incarnation's lease at once. Each pass is recorded in
`sync_runs` with its counts and outcome; a pass whose worker died is recorded as "abandoned"
by the next one to run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import redis
from sqlalchemy import select, update

from xerosync.models import (
    LinkKind,
    LinkStatus,
    Order,
    OrderStatus,
    SyncRun,
    utcnow,
)
from xerosync.sync import audit, cadence, outbox, outcomes, statistics, webhook_health
from xerosync.sync.context import OrgContext, redis_client
from xerosync.sync.invoices import OrderNotInvoiceable, create_invoice_for_order
from xerosync.sync.lease import Acquired, Lease
from xerosync.sync.pull import STREAMS_BY_NAME, forget_cursors, import_stream
from xerosync.sync.push import PushReport, push_pending
from xerosync.sync.timeslice import SliceUsed, TimeSlice
from xerosync.xero.budget import DayLeft
from xerosync.xero.errors import RateLimited, ReauthorizationRequired, XeroError
from xerosync.xero.spend import spending_as

log = logging.getLogger(__name__)

DELETABLE = ("DRAFT", "SUBMITTED")
ORDER_LEASE_SECONDS = 30.0


class PassAlreadyRunning(RuntimeError):
    """Another pass of this organisation holds the lease."""


def pass_lease(ctx: OrgContext, task_id: str | None = None) -> Lease:
    return Lease(
        redis_client(ctx.settings.REDIS_URL),
        f"xerosync:pass-lock:{ctx.connection.tenant_id}",
        ttl=ctx.settings.SYNC_PASS_LEASE_SECONDS,  # renewed every third of it
        owner=task_id,
    )


def record_lease_key(connection_id: int, kind: str, local_id: int) -> str:
    """The lease one unit of work holds on one CRM record, so two never work on it at once."""
    return f"xerosync:record-lock:{connection_id}:{kind}:{local_id}"


def abandon_dead_runs(ctx: OrgContext, why: str) -> int:
    """Runs still "running" while we hold the lease died with their worker: say so."""
    result = ctx.session.execute(
        update(SyncRun)
        .where(SyncRun.connection_id == ctx.connection.id, SyncRun.outcome == "running")
        .values(outcome="abandoned", finished_at=utcnow(), error=why)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def invoice_confirmed_orders(ctx: OrgContext) -> dict[str, int]:
    """Create the invoices of confirmed orders that have none yet (their task never ran).

    A retryable failure interrupts the pass (the next one resumes); a record-level one is
    written on the order's link and the pass goes on with the next order.
    """
    counts = {"invoiced": 0, "found": 0, "failed": 0, "waiting": 0}
    order_ids = list(
        ctx.session.scalars(
            select(Order.id)
            .where(
                Order.connection_id == ctx.connection.id,
                Order.status == OrderStatus.CONFIRMED.value,
                Order.xero_invoice_id.is_(None),
            )
            .order_by(Order.id)
        )
    )
    for order_id in order_ids:
        link = outbox.get_link(ctx.session, ctx.connection.id, LinkKind.INVOICE, order_id)
        if link is not None and (
            link.status == LinkStatus.ERROR.value
            or (
                link.status == LinkStatus.DEFERRED.value
                and link.retry_after is not None
                and link.retry_after > utcnow()
            )
        ):
            counts["waiting"] += 1
            continue
        lease = Lease(
            redis_client(ctx.settings.REDIS_URL),
            record_lease_key(ctx.connection.id, LinkKind.INVOICE.value, order_id),
            ttl=ORDER_LEASE_SECONDS,
        )
        if not lease.acquire():  # its task is creating the invoice right now
            counts["waiting"] += 1
            continue
        try:
            outcome = create_invoice_for_order(ctx, order_id)
        except OrderNotInvoiceable:  # recorded on the order's link
            counts["failed"] += 1
            continue
        except XeroError as exc:
            ctx.session.rollback()
            if exc.retryable:
                raise
            outcomes.fail(
                outbox.link_for(ctx.session, ctx.connection.id, LinkKind.INVOICE, order_id), exc
            )
            ctx.session.commit()
            counts["failed"] += 1
            continue
        finally:
            lease.release()
        if outcome.result == "found":
            counts["found"] += 1
        elif outcome.result == "created":
            counts["invoiced"] += 1
        elif outcome.result == "rejected":
            counts["failed"] += 1
    return counts


def delete_voided_drafts(ctx: OrgContext) -> dict[str, int]:
    """Delete in Xero the Draft invoices of orders the CRM voided."""
    counts = {"deleted": 0, "left_alone": 0, "rejected": 0}
    orders = list(
        ctx.session.scalars(
            select(Order).where(
                Order.connection_id == ctx.connection.id,
                Order.status == OrderStatus.VOIDED.value,
                Order.xero_invoice_id.is_not(None),
                Order.xero_invoice_status.not_in(("DELETED", "VOIDED")),
            )
        )
    )
    deletable = []
    for order in orders:
        link = outbox.link_for(ctx.session, ctx.connection.id, LinkKind.INVOICE, order.id)
        if order.xero_invoice_status in DELETABLE:
            deletable.append((order, link))
        elif link.status != LinkStatus.ERROR.value:
            outcomes.fail(
                link,
                f"the order was voided in the CRM, but Xero's invoice is "
                f"{order.xero_invoice_status}: the accounts team must void it in Xero",
            )
            counts["left_alone"] += 1
    if deletable:
        payload = [{"InvoiceID": o.xero_invoice_id, "Status": "DELETED"} for o, _ in deletable]
        with (
            spending_as("invoices"),
            audit.writing("invoice", [order.id for order, _ in deletable]),
        ):
            results = ctx.client.save("Invoices", payload, method="POST")
        for (order, link), result in zip(deletable, results, strict=True):
            if result.ok:
                order.xero_invoice_status = "DELETED"
                link.status = LinkStatus.SYNCED.value
                link.last_error = None
                counts["deleted"] += 1
            else:
                outcomes.reject(link, result)
                counts["rejected"] += 1
    ctx.session.commit()
    return counts


@dataclass(frozen=True)
class PassResult:
    """A finished pass, and when to resume it if a rate limit cut it short."""

    run: SyncRun
    resume_in: float | None = None
    """Seconds until the pass should go on: when the budget that stopped it opens again, or 0
    after its time slice (None: it ran to the end, or cannot go on by itself)."""
    next_in: float | None = None
    """Seconds from this pass's start to the next one planned (None: not planned)."""


def run_pass(
    ctx: OrgContext,
    *,
    full: bool = False,
    task_id: str | None = None,
    on_page: Callable[[str, int, int | None], None] | None = None,
    time_slice: float | None = None,
) -> PassResult:
    """One routine pass; raises PassAlreadyRunning if another, alive, holds the lease.

    `time_slice` seconds (a pass run as a task): past them, the pass stops where all it did is
    committed, with `resume_in` 0 (`sync.timeslice`)."""
    lease = pass_lease(ctx, task_id)
    acquired = lease.acquire()
    if not acquired:
        raise PassAlreadyRunning(f"a pass of {ctx.connection.tenant_name} is already running")
    with lease.kept_alive():
        why = (
            "its worker died and the task was delivered again"
            if acquired is Acquired.TAKEN_OVER
            else "its worker died (its lease lapsed)"
        )
        abandoned = abandon_dead_runs(ctx, why)
        if abandoned:
            log.warning(
                "%d pass(es) of %s abandoned: %s", abandoned, ctx.connection.tenant_name, why
            )
        started = time.time()
        ctx.time_slice = TimeSlice(time_slice) if time_slice else None
        done = _run_pass(ctx, full=full, task_id=task_id, on_page=on_page)
        if done.run.outcome != "ok":  # cut short: its continuation or the next tick resumes
            return done
        return PassResult(done.run, done.resume_in, plan_next(ctx, done.run, started))


QUIET_COUNTS = frozenset({"read", "unchanged", "waiting"})
"""Counts that are no change: rows read again unchanged, orders whose invoice waits (an
operator, a later time, its own task)."""


def _import(
    ctx: OrgContext,
    name: str,
    counts: dict[str, Any],
    *,
    full: bool,
    on_page: Callable[[str, int, int | None], None] | None,
) -> None:
    """Read one stream, unless healthy webhooks bring its changes and it was read recently
    enough (WEBHOOK_COVERED_POLL_SECONDS; `xerosync.sync.webhook_health`)."""
    store = redis_client(ctx.settings.REDIS_URL)
    every = float(ctx.settings.WEBHOOK_COVERED_POLL_SECONDS)
    if not full and webhook_health.may_skip(store, ctx.connection.id, name, every):
        counts.setdefault("left_to_webhooks", []).append(name)
        return
    counts[name] = {}
    import_stream(ctx, STREAMS_BY_NAME[name], full=full, on_page=on_page, counts=counts[name])
    if name in webhook_health.COVERED_STREAMS:
        webhook_health.note_read(store, ctx.connection.id, name)


def pass_was_idle(counts: Mapping[str, object]) -> bool:
    """Whether a pass found nothing to do: no record in or out, nothing set aside."""
    for name, value in counts.items():
        if isinstance(value, Mapping):
            if not pass_was_idle(value):
                return False
        elif name not in QUIET_COUNTS and isinstance(value, int) and value:
            return False
    return True


def day_left(ctx: OrgContext) -> DayLeft | None:
    """The day's budget read-out for this organisation (None without a budget)."""
    budget = ctx.client.budget
    return budget.day_left(ctx.client.budget_key) if budget is not None else None


def _day_seconds(ctx: OrgContext) -> float:
    budget = ctx.client.budget
    return budget.limits.day_window if budget is not None else cadence.DAY_SECONDS


def plan_next(ctx: OrgContext, run: SyncRun, started: float) -> float | None:
    """Plan the organisation's next pass from this one (None if Redis did not answer: the
    next tick then runs it, as before any plan)."""
    try:
        interval = cadence.record_pass(
            redis_client(ctx.settings.REDIS_URL),
            ctx.connection.id,
            idle=pass_was_idle(run.counts or {}),
            started_at=started,
            base=float(ctx.settings.SYNC_INTERVAL_SECONDS),
            idle_max=float(ctx.settings.SYNC_IDLE_MAX_INTERVAL_SECONDS),
            day=day_left(ctx),
            day_seconds=_day_seconds(ctx),
        )
    except redis.RedisError as exc:
        log.warning("next pass of %s not planned: %s", ctx.connection.tenant_name, exc)
        return None
    log.info("next pass of %s in %.0fs", ctx.connection.tenant_name, interval)
    return interval


def _run_pass(
    ctx: OrgContext,
    *,
    full: bool,
    task_id: str | None,
    on_page: Callable[[str, int, int | None], None] | None,
) -> PassResult:
    run = SyncRun(connection_id=ctx.connection.id, full=full, task_id=task_id, counts={})
    ctx.session.add(run)
    ctx.session.commit()
    run_id = run.id
    counts: dict[str, Any] = {}
    outcome, error = "ok", None
    resume_in: float | None = None
    try:
        if full:
            forget_cursors(ctx)
            ctx.session.commit()
        for name in ("contacts", "items"):
            _import(ctx, name, counts, full=full, on_page=on_page)
        statistics.refresh_if_stale(ctx.session)  # the push's join plans from them
        pushed: dict[str, PushReport] = {}
        try:
            with spending_as("push"):
                push_pending(ctx, reports=pushed)
        finally:
            counts["push"] = {k: asdict(v) for k, v in pushed.items()}
        ctx.session.commit()
        counts["confirmed_orders"] = invoice_confirmed_orders(ctx)
        counts["voided_orders"] = delete_voided_drafts(ctx)
        for name in ("invoices", "credit_notes"):
            _import(ctx, name, counts, full=full, on_page=on_page)
    except SliceUsed as exc:  # its continuation goes behind the other passes waiting
        outcome, error, resume_in = "continued", str(exc), 0.0
    except ReauthorizationRequired as exc:
        outcome, error = "failed", str(exc)
    except XeroError as exc:
        # Rate limit, outage: what was committed stays; the next pass resumes from the cursors.
        outcome, error = ("interrupted" if exc.retryable else "failed"), str(exc)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            resume_in = exc.retry_after
    except Exception as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        ctx.session.rollback()
        finished = ctx.session.get_one(SyncRun, run_id)
        finished.finished_at = utcnow()
        finished.outcome = outcome
        finished.counts = counts
        finished.error = error
        ctx.session.commit()
    log.info("pass of %s: %s %s", ctx.connection.tenant_name, outcome, counts)
    return PassResult(finished, resume_in)
