"""The Celery tasks the CRM calls. Thin: decode ids, run a job from `xerosync.sync.jobs`,
and turn the job's "run me again in N seconds" into Celery's retry.

Celery's own retry limit is off (`max_retries=None` on the task; `None` passed to
`self.retry()` would instead mean "the task's default, 3"): the one retry policy
(`xerosync.sync.retry`) decides how long a unit of work is retried and when it is deferred,
from the time of its first try, which travels with every retry (`first_tried_at`).

    push_contact.delay(customer_id)            after saving a customer
    push_item.delay(product_id)                after saving a product
    create_invoice_for_order.delay(order_id)   after confirming a quote (`invoices` queue)

How a record's task ends is what Flower shows, and Sentry hears only what an operator must
act on:

    SUCCESS          Xero holds the record (or nothing was to be done)
    FAILURE          RecordRejected: Xero refused the record's data, or the order cannot be
                     invoiced; Xero's words are the message, the error is on the record
                     (`xerosync errors`), no retry, no Sentry event. Any other failure (a
                     missing scope, a crash) is raised as itself: FAILURE and a Sentry event
    DEFERRED         past the retry horizon (an outage, a long Retry-After): the routine
                     pass takes it up; logged at ERROR (Sentry)
    NEEDS_RECONNECT  the organisation must be connected again (`xerosync connect`); logged
                     at ERROR (Sentry)

The last two are custom states: the task sends a `task-deferred` / `task-needs_reconnect`
event (Flower shows the state and the event's `result`) and ends with Celery's `Ignore`, so
no `task-succeeded` event overwrites it. Every record task's arguments are shown as the
record, `customer #12`, in Flower's task list and the worker's log (`RecordTask`).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from celery.worker.request import Request
from sqlalchemy import select

from xerosync.app import app
from xerosync.db import get_engine, session_scope
from xerosync.models import LinkKind, XeroLink
from xerosync.sync import jobs, outbox
from xerosync.sync.invoices import OrderNotInvoiceable
from xerosync.sync.jobs import JobResult
from xerosync.xero.errors import ValidationError

outbox.install()

log = logging.getLogger(__name__)

DEFERRED = "DEFERRED"
NEEDS_RECONNECT = "NEEDS_RECONNECT"
_PARKED = {"deferred": DEFERRED, "waiting": NEEDS_RECONNECT}


class RecordRejected(Exception):
    """Xero refused the record for its data, or the order cannot be invoiced.

    Raised after the record's error is committed, with Xero's words as the message. The same
    data would be refused again: Celery does not retry it (`RecordTask.throws`: logged at INFO,
    no traceback) and Sentry does not hear of it (`observability.before_send`).
    """


class RecordFailed(Exception):
    """Work on a record stopped for a reason that is not its data, with no exception to
    raise in its place: an operator must look."""


def describe_call(kind: str, args: Any, kwargs: Any) -> tuple[str, str]:
    """(`argsrepr`, `kwargsrepr`) naming the record a call is for: `customer #12`."""
    args = list(args or ())
    kwargs = dict(kwargs or {})
    record_id = args.pop(0) if args else kwargs.pop(f"{kind}_id", kwargs.pop("id", None))
    what = f"{kind} #{record_id}" if record_id is not None else kind
    if args:
        what += ", " + ", ".join(repr(a) for a in args)
    first = kwargs.get("first_tried_at")
    if isinstance(first, int | float):
        kwargs["first_tried_at"] = datetime.fromtimestamp(first, UTC).isoformat(timespec="seconds")
    return what, repr(kwargs)


class RecordRequest(Request):
    """Worker side: a task sent by name (`send_task`, no `RecordTask.apply_async`) still shows
    the record in the `task-received` event and the worker's log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = getattr(self._task, "record_kind", "")
        if kind and not str(getattr(self, "_argsrepr", "")).startswith(kind):
            argsrepr, kwargsrepr = describe_call(kind, self.args, self.kwargs)
            self._argsrepr, self._kwargsrepr = argsrepr, kwargsrepr
            self._request_dict.update(argsrepr=argsrepr, kwargsrepr=kwargsrepr)


class RecordTask(Task):
    """A task for one CRM record (or one organisation), named as such wherever it is listed."""

    record_kind = ""
    """What one call is for, named in Flower's task list: "customer" gives `customer #12`."""
    throws = (RecordRejected,)
    Request = RecordRequest

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        if self.record_kind and "argsrepr" not in options:
            argsrepr, kwargsrepr = describe_call(self.record_kind, args, kwargs)
            options.update(argsrepr=argsrepr, kwargsrepr=kwargsrepr)
        return super().apply_async(args, kwargs, *rest, **options)


def _first_try(task: Task, given: float | None) -> float:
    return float(given) if given else time.time()


def _xero_words(kind: LinkKind, record_id: int) -> str:
    """What Xero said about the record, as committed on its link."""
    with session_scope(get_engine()) as session:
        link = session.scalars(
            select(XeroLink)
            .where(XeroLink.kind == kind.value, XeroLink.local_id == record_id)
            .order_by(XeroLink.id.desc())
        ).first()
        return (link.last_error if link is not None else None) or "Xero rejected it"


def _rejected(result: JobResult) -> bool:
    """A job that ended "done" with the record refused by Xero (a push report or an invoice
    outcome)."""
    detail = result.detail or {}
    return bool(detail.get("rejected")) or detail.get("result") == "rejected"


def _rejected_with(words: str) -> RecordRejected:
    """The failure to raise for a record refused for its data, logged at WARNING (where an
    operator reads it; `xerosync errors` lists it too)."""
    log.warning("rejected: %s", words)
    return RecordRejected(words)


def _failure(what: str, result: JobResult) -> BaseException:
    cause = result.cause
    if isinstance(cause, OrderNotInvoiceable):
        return _rejected_with(f"{what} cannot be invoiced: {result.error}")
    if isinstance(cause, ValidationError):
        return _rejected_with(f"{what}: {result.error}")
    if isinstance(cause, Exception):
        return cause
    return RecordFailed(f"{what}: {result.error}")


def _park(task: Task, what: str, result: JobResult) -> None:
    """A deferred or reconnect-waiting record: a custom state Flower shows, a log line at ERROR
    an operator (and Sentry) sees, and no `task-succeeded` event after it."""
    state = _PARKED[result.status]
    if state == DEFERRED:
        seconds = float((result.detail or {}).get("seconds") or 0)
        words = f"{what} deferred for {seconds:.0f}s, the routine pass takes it up: {result.error}"
    else:
        words = f"{what} waits until the organisation is connected again: {result.error}"
    log.error("%s", words)
    try:
        task.send_event(f"task-{state.lower()}", result=words, record=what)
        task.update_state(state=state, meta={"outcome": result.status, "error": result.error})
    except Exception as exc:  # the broker is away: the record's state is committed anyway
        log.warning("%s: state %s not sent (%s: %s)", what, state, type(exc).__name__, exc)
    raise Ignore()


def _finish(
    task: Task,
    result: JobResult,
    first_tried_at: float,
    kind: LinkKind | None = None,
    record_id: int | None = None,
) -> dict[str, Any]:
    what = f"{getattr(task, 'record_kind', 'record')} #{record_id}"
    if result.retry_in is not None:
        kwargs = {**(task.request.kwargs or {}), "first_tried_at": first_tried_at}
        raise task.retry(countdown=result.retry_in, kwargs=kwargs)
    if result.status == "failed":
        raise _failure(what, result)
    if result.status in _PARKED:
        _park(task, what, result)
    if kind is not None and record_id is not None and _rejected(result):
        raise _rejected_with(f"{what}: {_xero_words(kind, record_id)}")
    return {"status": result.status, "detail": result.detail, "error": result.error}


def _context(task: Task, first_tried_at: float) -> dict[str, Any]:
    return {
        "attempt": task.request.retries,
        "task_id": task.request.id,
        "first_tried_at": first_tried_at,
    }


@app.task(
    bind=True,
    shared=False,
    max_retries=None,
    base=RecordTask,
    record_kind="customer",
    name="xerosync.tasks.push_contact",
)
def push_contact(
    self: Task, customer_id: int, force: bool = False, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create or update the customer's Xero contact (new ones take the template's defaults)."""
    first = _first_try(self, first_tried_at)
    result = jobs.push_contact(int(customer_id), force=force, **_context(self, first))
    return _finish(self, result, first, LinkKind.CONTACT, int(customer_id))


@app.task(
    bind=True,
    shared=False,
    max_retries=None,
    base=RecordTask,
    record_kind="product",
    name="xerosync.tasks.push_item",
)
def push_item(
    self: Task, product_id: int, force: bool = False, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create or update the product's Xero item."""
    first = _first_try(self, first_tried_at)
    result = jobs.push_item(int(product_id), force=force, **_context(self, first))
    return _finish(self, result, first, LinkKind.ITEM, int(product_id))


@app.task(
    bind=True,
    shared=False,
    max_retries=None,
    base=RecordTask,
    record_kind="order",
    name="xerosync.tasks.create_invoice_for_order",
)
def create_invoice_for_order(
    self: Task, order_id: int, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create the confirmed order's Draft sales invoice in Xero, exactly once."""
    first = _first_try(self, first_tried_at)
    result = jobs.invoice_order(int(order_id), **_context(self, first))
    return _finish(self, result, first, LinkKind.INVOICE, int(order_id))


@app.task(
    bind=True,
    shared=False,
    base=RecordTask,
    record_kind="connection",
    name="xerosync.tasks.resume_after_reconnect",
)
def resume_after_reconnect(self: Task, connection_id: int) -> dict[str, Any]:
    """After `xerosync connect`: invoice the orders that waited on it now, and run a pass for
    the rest (customers and products that waited)."""
    orders = jobs.resume_after_reconnect(int(connection_id))
    for order_id in orders:
        create_invoice_for_order.delay(order_id)
    run_pass_for.delay(int(connection_id))
    return {"status": "done", "detail": {"orders": orders}, "error": None}


@app.task(
    bind=True,
    shared=False,
    base=RecordTask,
    record_kind="connection",
    name="xerosync.tasks.push_pending",
)
def push_pending(self: Task, connection_id: int) -> dict[str, Any]:
    """Push every customer and product of one organisation still waiting for a push."""
    result = jobs.push_pending_for(int(connection_id), task_id=self.request.id)
    return {"status": result.status, "detail": result.detail, "error": result.error}


@app.task(bind=True, shared=False, name="xerosync.tasks.run_routine_pass")
def run_routine_pass(self: Task) -> dict[str, Any]:
    """Beat's tick: a pass for each connected organisation whose pass is due, each its own
    task (fan-out), so many organisations spread over the workers and a slow one holds up no
    other. An idle organisation's pass comes less often (`sync.cadence`); a change on either
    side makes it due at once."""
    tick = jobs.due_connections()
    for connection_id in tick.due:
        run_pass_for.delay(connection_id)
    detail = {"enqueued": tick.due, "waiting": tick.waiting}
    return {"status": "done", "detail": detail, "error": None}


@app.task(bind=True, shared=False, name="xerosync.tasks.run_pass_for")
def run_pass_for(self: Task, connection_id: int, full: bool = False) -> dict[str, Any]:
    """The routine pass of one organisation (does nothing if one is already running).

    Cut short by a rate limit, it sends its continuation for when the budget opens again: a
    new task (not a retry, which would inherit beat's `expires`), an ordinary pass that
    resumes from the committed cursors and the outbox. After its time slice
    (`SYNC_PASS_SLICE_SECONDS`) it sends the continuation at once, to the back of the queue.
    """
    result = jobs.routine_pass_for(
        int(connection_id), full=full, task_id=self.request.id, sliced=True
    )
    detail = dict(result.detail)
    if result.retry_in is not None:
        run_pass_for.apply_async((int(connection_id),), countdown=result.retry_in)
        detail["resumes_in_seconds"] = round(result.retry_in, 3)
    return {"status": result.status, "detail": detail, "error": result.error}
