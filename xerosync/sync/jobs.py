"""Units of work the tasks run: open a session and the organisation's client, do the work,
and turn a failure into the record's state (deferred or failed) or a retry for the caller.

Nothing here imports Celery: a task only maps `JobResult.retry_in` to `self.retry()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, TypeVar, cast

import redis
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from xerosync import logcontext
from xerosync.db import get_engine, session_scope
from xerosync.models import (
    Connection,
    ConnectionStatus,
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    Product,
    XeroLink,
)
from xerosync.settings import Settings, get_settings
from xerosync.sync import cadence, outbox, outcomes
from xerosync.sync.context import OrgContext, open_context, redis_client
from xerosync.sync.invoices import OrderNotInvoiceable, create_invoice_for_order
from xerosync.sync.lease import Lease
from xerosync.sync.push import push_customers, push_pending, push_products
from xerosync.sync.retry import (
    INVOICE_POLICY,
    ROUTINE_POLICY,
    Action,
    RaceLost,
    RecordBusy,
    Retryable,
    RetryPolicy,
    decide,
)
from xerosync.sync.routine import (
    ORDER_LEASE_SECONDS,
    PassAlreadyRunning,
    record_lease_key,
    run_pass,
)
from xerosync.xero.errors import ReauthorizationRequired, XeroError
from xerosync.xero.spend import spending_as

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass
class JobResult:
    """How a unit of work ended. `retry_in` set: the caller should run it again then."""

    status: str
    detail: dict[str, Any] = field(default_factory=dict)
    retry_in: float | None = None
    error: str | None = None
    cause: BaseException | None = field(default=None, repr=False, compare=False)
    """The exception behind a "failed" or "deferred" result, so the task can say what kind of
    failure it was (Xero's verdict on the record's data, or something an operator must fix)."""


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


RABBITMQ_CONSUMER_TIMEOUT = 1800
"""RabbitMQ's default delivery acknowledgement timeout (`consumer_timeout`, 30 min): a worker
holds a countdown task unacknowledged until it runs, and past this RabbitMQ closes its channel."""


def _max_countdown(settings: Settings) -> float:
    """The longest wait a task may be sent back with: under the broker's visibility timeout,
    past which an unacknowledged task would be delivered again (on RabbitMQ, also under its
    consumer_timeout)."""
    limit = settings.BROKER_VISIBILITY_TIMEOUT
    if settings.CELERY_BROKER_URL.split("://", 1)[0] in ("amqp", "amqps", "pyamqp"):
        limit = min(limit, RABBITMQ_CONSUMER_TIMEOUT)
    return limit * 0.9


def _connection(session: Session, connection_id: int) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None:
        raise LookupError(f"connection #{connection_id} does not exist")
    return connection


class StoreUnavailable(Exception):
    """Redis (budget, leases) did not answer: it is restarting or unreachable, for now."""

    retryable = True
    retry_after: float | None = None


def _policy(kind: LinkKind) -> RetryPolicy:
    return INVOICE_POLICY if kind is LinkKind.INVOICE else ROUTINE_POLICY


def run_for_record(
    model: type[Customer] | type[Product] | type[Order],
    kind: LinkKind,
    record_id: int,
    work: Callable[[OrgContext, Any], R],
    *,
    attempt: int = 0,
    task_id: str | None = None,
    first_tried_at: float | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> JobResult:
    """Run `work` for one CRM record inside its organisation's context, holding the
    record's lease so that two units of work never work on one record at once (the second
    comes back when the first is done, and finds its work done)."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    elapsed = max(0.0, time.time() - first_tried_at) if first_tried_at else 0.0
    what = f"{kind.value} #{record_id}"
    with session_scope(engine) as session:
        record = cast(Customer | Product | Order | None, session.get(model, record_id))
        if record is None:
            return JobResult("missing", error=f"{model.__name__} #{record_id} does not exist")
        connection = _connection(session, record.connection_id)
        wake_pass(settings, connection.id)
        with logcontext.working_for(task=task_id, org=connection.tenant_id):
            error: XeroError | Retryable
            try:
                lease = Lease(
                    redis_client(settings.REDIS_URL),
                    record_lease_key(connection.id, kind.value, record_id),
                    ttl=ORDER_LEASE_SECONDS,
                    owner=task_id,
                )
                if not lease.acquire():
                    raise RecordBusy(what)
                with lease.kept_alive():
                    ctx = open_context(session, connection, settings, engine)
                    return JobResult("done", _jsonable(work(ctx, record)))
            except OrderNotInvoiceable as exc:
                return JobResult("failed", error=str(exc), cause=exc)
            except XeroError as exc:
                error = exc
            except RecordBusy as exc:
                error = exc
            except (IntegrityError, OperationalError) as exc:
                error = RaceLost(what, exc)
            except redis.RedisError as exc:
                error = StoreUnavailable(f"Redis did not answer: {type(exc).__name__}")
            session.rollback()
            return _after_error(
                session, connection, kind, record_id, error, attempt, elapsed, settings
            )


def _after_error(
    session: Session,
    connection: Connection,
    kind: LinkKind,
    record_id: int,
    error: XeroError | Retryable,
    attempt: int,
    elapsed: float,
    settings: Settings,
) -> JobResult:
    """The retry policy's verdict on a failed unit of work, written on the record's link."""
    decision = decide(
        error,
        attempt,
        max_countdown=_max_countdown(settings),
        policy=_policy(kind),
        elapsed=elapsed,
    )
    log.warning("%s #%s: %s -> %s", kind.value, record_id, error, decision.action.value)
    if decision.action is Action.RETRY:
        return JobResult("retry", retry_in=decision.seconds, error=str(error))
    try:
        link: XeroLink = outbox.link_for(session, connection.id, kind, record_id)
        if isinstance(error, ReauthorizationRequired):
            outcomes.wait_for_reconnect(link, error)
            session.commit()
            return JobResult("waiting", error=str(error), cause=cast(BaseException, error))
        if decision.action is Action.DEFER:
            outcomes.defer(link, decision.seconds, f"deferred: {error}")
            session.commit()
            return JobResult(
                "deferred",
                {"seconds": decision.seconds},
                error=str(error),
                cause=cast(BaseException, error),
            )
        outcomes.fail(link, cast(XeroError, error))
        session.commit()
    except (IntegrityError, OperationalError) as exc:
        # The outcome could not be written (another task wrote the link, the database is
        # locked or away): come back soon rather than lose it, within the policy's horizon.
        session.rollback()
        if elapsed > _policy(kind).horizon:
            log.error("%s #%s: outcome not recorded, given up: %s", kind.value, record_id, exc)
            return JobResult(
                "failed", error=f"{error}; and the outcome was not recorded: {exc}", cause=exc
            )
        log.warning("%s #%s: outcome not recorded (%s); retrying", kind.value, record_id, exc)
        return JobResult("retry", retry_in=1.0, error=str(error))
    return JobResult("failed", error=str(error), cause=cast(BaseException, error))


def _spent_as(kind: str, work: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """`work(*args, **kwargs)` with its calls to Xero spent as `kind` (`spend.spending_as`)."""
    with spending_as(kind):
        return work(*args, **kwargs)


def push_contact(customer_id: int, *, force: bool = False, **kw: Any) -> JobResult:
    return run_for_record(
        Customer,
        LinkKind.CONTACT,
        customer_id,
        lambda ctx, customer: _spent_as("push", push_customers, ctx, [customer], force=force),
        **kw,
    )


def push_item(product_id: int, *, force: bool = False, **kw: Any) -> JobResult:
    return run_for_record(
        Product,
        LinkKind.ITEM,
        product_id,
        lambda ctx, product: _spent_as("push", push_products, ctx, [product], force=force),
        **kw,
    )


def invoice_order(order_id: int, **kw: Any) -> JobResult:
    return run_for_record(
        Order,
        LinkKind.INVOICE,
        order_id,
        lambda ctx, order: create_invoice_for_order(ctx, order.id),
        **kw,
    )


@contextmanager
def _organisation(
    connection_id: int, task_id: str | None, settings: Settings | None, engine: Engine | None
) -> Iterator[OrgContext]:
    """One organisation's unit of work, its log lines naming the task and organisation."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    with session_scope(engine) as session:
        connection = _connection(session, connection_id)
        with logcontext.working_for(task=task_id, org=connection.tenant_id):
            yield open_context(session, connection, settings, engine)


def push_pending_for(
    connection_id: int,
    *,
    task_id: str | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> JobResult:
    """Push everything pending in one organisation (the outbox half of the routine pass)."""
    wake_pass(settings or get_settings(), connection_id)
    try:
        with _organisation(connection_id, task_id, settings, engine) as ctx:
            return JobResult("done", _jsonable(_spent_as("push", push_pending, ctx)))
    except XeroError as exc:  # batches already written stay committed; the rest is pending
        return JobResult("interrupted", error=str(exc))
    except (redis.RedisError, OperationalError) as exc:  # the next pass resumes
        return JobResult("interrupted", error=f"{type(exc).__name__}: {exc}")


def wake_pass(settings: Settings, connection_id: int) -> None:
    """The CRM changed something of this organisation: its routine pass is due at beat's
    next tick again (`cadence.wake`). Never fails the work that calls it."""
    try:
        cadence.wake(redis_client(settings.REDIS_URL), connection_id)
    except redis.RedisError as exc:
        log.warning("connection #%s: its pass could not be woken: %s", connection_id, exc)


@dataclass(frozen=True)
class Tick:
    """Beat's tick as the fan-out decided it: whose pass runs now, whose waits."""

    due: list[int]
    waiting: list[int]


def due_connections(
    *,
    now: float | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> Tick:
    """The active organisations whose routine pass is due at this tick: their plan says so
    (`cadence.is_due`, within half a tick), or their outbox holds work. Without Redis every
    one is due (the pass itself then says what is wrong).

    The tick's cost does not grow in round trips with the organisations: one pipelined read
    of every plan, and one query (per thousand) for the outboxes of those not planned."""
    settings = settings or get_settings()
    at = time.time() if now is None else now
    slack = settings.SYNC_INTERVAL_SECONDS / 2
    ids = active_connections(engine)
    try:
        planned = cadence.due_among(redis_client(settings.REDIS_URL), ids, at, slack)
    except redis.RedisError:
        planned = set(ids)
    rest = [i for i in ids if i not in planned]
    with session_scope(engine or get_engine()) as session:
        busy = cadence.pending_work_among(session, rest) if rest else set()
    due = [i for i in ids if i in planned or i in busy]
    waiting = [i for i in ids if i not in planned and i not in busy]
    return Tick(due, waiting)


def active_connections(engine: Engine | None = None) -> list[int]:
    """Organisations a routine pass should run for (not awaiting re-authorisation)."""
    with session_scope(engine or get_engine()) as session:
        return list(
            session.scalars(
                select(Connection.id)
                .where(Connection.status == ConnectionStatus.ACTIVE.value)
                .order_by(Connection.id)
            )
        )


def routine_pass_for(
    connection_id: int,
    *,
    full: bool = False,
    task_id: str | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
    on_page: Callable[[str, int, int | None], None] | None = None,
    sliced: bool = False,
) -> JobResult:
    """Run the routine pass of one organisation, unless one is already running.

    A pass cut short by a rate limit says when to resume (`retry_in`: when the budget opens
    again), so a backlog is worked through window after window, not once per beat interval.
    A wait longer than the broker may hold a task is left to the next scheduled pass.
    `sliced` (a pass run as a task): it stops after `SYNC_PASS_SLICE_SECONDS` of work, with
    `retry_in` 0, so its continuation queues behind other organisations' passes.
    """
    try:
        with _organisation(connection_id, task_id, settings, engine) as ctx:
            done = run_pass(
                ctx,
                full=full,
                task_id=task_id,
                on_page=on_page,
                time_slice=ctx.settings.SYNC_PASS_SLICE_SECONDS if sliced else None,
            )
            run, resume_in = done.run, done.resume_in
            limit = _max_countdown(ctx.settings)
            detail: dict[str, Any] = {"run_id": run.id, "counts": run.counts}
            if done.next_in is not None:
                detail["next_pass_in_seconds"] = round(done.next_in)
            return JobResult(
                run.outcome,
                detail,
                retry_in=resume_in if resume_in is not None and resume_in <= limit else None,
                error=run.error,
            )
    except PassAlreadyRunning as exc:
        return JobResult("skipped", error=str(exc))
    except XeroError as exc:  # e.g. the connection needs re-authorisation
        return JobResult("failed", error=str(exc))
    except (redis.RedisError, OperationalError) as exc:  # Redis or the database is away
        log.warning("pass of connection #%s interrupted: %s", connection_id, exc)
        return JobResult("interrupted", error=f"{type(exc).__name__}: {exc}")


def resume_after_reconnect(
    connection_id: int, *, settings: Settings | None = None, engine: Engine | None = None
) -> list[int]:
    """What waited on the connection's re-authorisation is due again, at once.

    Records that waited are due now (deferred, no time); the confirmed orders among them are
    returned so their invoices are created at invoice priority, not at the next pass.
    """
    with session_scope(engine or get_engine()) as session:
        links = list(
            session.scalars(
                select(XeroLink).where(
                    XeroLink.connection_id == connection_id,
                    XeroLink.status == LinkStatus.DEFERRED.value,
                )
            )
        )
        waiting = [link for link in links if outcomes.is_waiting_for_reconnect(link)]
        for link in waiting:
            link.retry_after = None
        orders = sorted(link.local_id for link in waiting if link.kind == LinkKind.INVOICE.value)
        log.info(
            "connection #%s connected again: %d record(s) resume, %d order(s) to invoice",
            connection_id,
            len(waiting),
            len(orders),
        )
        return orders
