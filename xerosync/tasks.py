"""The Celery tasks the CRM calls. Thin: decode ids, run a job from `xerosync.sync.jobs`,
and turn the job's "run me again in N seconds" into Celery's retry.

    push_contact.delay(customer_id)            after saving a customer
    push_item.delay(product_id)                after saving a product
    create_invoice_for_order.delay(order_id)   after confirming a quote (`invoices` queue)
"""

from __future__ import annotations

from typing import Any

from celery import Task

from xerosync.app import app
from xerosync.sync import jobs, outbox
from xerosync.sync.jobs import JobResult

outbox.install()


def _finish(task: Task, result: JobResult) -> dict[str, Any]:
    if result.retry_in is not None:
        raise task.retry(countdown=result.retry_in, max_retries=None)
    return {"status": result.status, "detail": result.detail, "error": result.error}


def _context(task: Task) -> dict[str, Any]:
    return {"attempt": task.request.retries, "task_id": task.request.id}


@app.task(bind=True, shared=False, name="xerosync.tasks.push_contact")
def push_contact(self: Task, customer_id: int, force: bool = False) -> dict[str, Any]:
    """Create or update the customer's Xero contact (new ones take the template's defaults)."""
    return _finish(self, jobs.push_contact(int(customer_id), force=force, **_context(self)))


@app.task(bind=True, shared=False, name="xerosync.tasks.push_item")
def push_item(self: Task, product_id: int, force: bool = False) -> dict[str, Any]:
    """Create or update the product's Xero item."""
    return _finish(self, jobs.push_item(int(product_id), force=force, **_context(self)))


@app.task(bind=True, shared=False, name="xerosync.tasks.create_invoice_for_order")
def create_invoice_for_order(self: Task, order_id: int) -> dict[str, Any]:
    """Create the confirmed order's Draft sales invoice in Xero, exactly once."""
    return _finish(self, jobs.invoice_order(int(order_id), **_context(self)))


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
