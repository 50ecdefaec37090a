"""The Celery tasks the CRM calls. Thin: decode ids, run a job from `xerosync.sync.jobs`,
and turn the job's "run me again in N seconds" into Celery's retry.

Celery's own retry limit is off (`max_retries=None` on the task; `None` passed to
`self.retry()` would instead mean "the task's default, 3"): the one retry policy
(`xerosync.sync.retry`) decides how long a unit of work is retried and when it is deferred,
from the time of its first try, which travels with every retry (`first_tried_at`).

    push_contact.delay(customer_id)            after saving a customer
    push_item.delay(product_id)                after saving a product
    create_invoice_for_order.delay(order_id)   after confirming a quote (`invoices` queue)
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task

from xerosync.app import app
from xerosync.sync import jobs, outbox
from xerosync.sync.jobs import JobResult

outbox.install()


def _first_try(task: Task, given: float | None) -> float:
    return float(given) if given else time.time()


def _finish(task: Task, result: JobResult, first_tried_at: float) -> dict[str, Any]:
    if result.retry_in is not None:
        kwargs = {**(task.request.kwargs or {}), "first_tried_at": first_tried_at}
        raise task.retry(countdown=result.retry_in, kwargs=kwargs)
    return {"status": result.status, "detail": result.detail, "error": result.error}


def _context(task: Task, first_tried_at: float) -> dict[str, Any]:
    return {
        "attempt": task.request.retries,
        "task_id": task.request.id,
        "first_tried_at": first_tried_at,
    }


@app.task(bind=True, shared=False, max_retries=None, name="xerosync.tasks.push_contact")
def push_contact(
    self: Task, customer_id: int, force: bool = False, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create or update the customer's Xero contact (new ones take the template's defaults)."""
    first = _first_try(self, first_tried_at)
    result = jobs.push_contact(int(customer_id), force=force, **_context(self, first))
    return _finish(self, result, first)


@app.task(bind=True, shared=False, max_retries=None, name="xerosync.tasks.push_item")
def push_item(
    self: Task, product_id: int, force: bool = False, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create or update the product's Xero item."""
    first = _first_try(self, first_tried_at)
    result = jobs.push_item(int(product_id), force=force, **_context(self, first))
    return _finish(self, result, first)


@app.task(
    bind=True, shared=False, max_retries=None, name="xerosync.tasks.create_invoice_for_order"
)
def create_invoice_for_order(
    self: Task, order_id: int, first_tried_at: float | None = None
) -> dict[str, Any]:
    """Create the confirmed order's Draft sales invoice in Xero, exactly once."""
    first = _first_try(self, first_tried_at)
    return _finish(self, jobs.invoice_order(int(order_id), **_context(self, first)), first)


@app.task(bind=True, shared=False, name="xerosync.tasks.resume_after_reconnect")
def resume_after_reconnect(self: Task, connection_id: int) -> dict[str, Any]:
    """After `xerosync connect`: invoice the orders that waited on it now, and run a pass for
    the rest (customers and products that waited)."""
    orders = jobs.resume_after_reconnect(int(connection_id))
    for order_id in orders:
        create_invoice_for_order.delay(order_id)
    run_pass_for.delay(int(connection_id))
    return {"status": "done", "detail": {"orders": orders}, "error": None}


@app.task(bind=True, shared=False, name="xerosync.tasks.push_pending")
def push_pending(self: Task, connection_id: int) -> dict[str, Any]:
    """Push every customer and product of one organisation still waiting for a push."""
    result = jobs.push_pending_for(int(connection_id), task_id=self.request.id)
    return {"status": result.status, "detail": result.detail, "error": result.error}


@app.task(bind=True, shared=False, name="xerosync.tasks.run_routine_pass")
def run_routine_pass(self: Task) -> dict[str, Any]:
    """Beat's tick: one pass per connected organisation, each its own task (fan-out), so
    many organisations spread over the workers and a slow one holds up no other."""
    connection_ids = jobs.active_connections()
    for connection_id in connection_ids:
        run_pass_for.delay(connection_id)
    return {"status": "done", "detail": {"enqueued": connection_ids}, "error": None}


@app.task(bind=True, shared=False, name="xerosync.tasks.run_pass_for")
def run_pass_for(self: Task, connection_id: int, full: bool = False) -> dict[str, Any]:
    """The routine pass of one organisation (does nothing if one is already running).

    Cut short by a rate limit, it sends its continuation for when the budget opens again: a
    new task (not a retry, which would inherit beat's `expires`), an ordinary pass that
    resumes from the committed cursors and the outbox.
    """
    result = jobs.routine_pass_for(int(connection_id), full=full, task_id=self.request.id)
    detail = dict(result.detail)
    if result.retry_in is not None:
        run_pass_for.apply_async((int(connection_id),), countdown=result.retry_in)
        detail["resumes_in_seconds"] = round(result.retry_in, 3)
    return {"status": result.status, "detail": detail, "error": result.error}
