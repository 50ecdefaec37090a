"""Write batches sent to Xero several at a time; their answers applied one by one, in order.

Pushing a backlog is mostly waiting for Xero (a batch of 50 takes from a few hundred
milliseconds to seconds). Sent one at a time, a pass cannot spend the minute budget it has, so
up to `width` batches are in flight at once. The threads only do HTTP: batches are built on
the caller's thread (which owns the database session) as they are needed, and every answer is
applied there too, in the order the batches were built.

A batch refused only because every in-flight permit is taken (a CRM task of the same
organisation holds one) waits a tenth of a second and tries again, a bounded number of times:
nothing was sent. Any other failure stops new sends; the batches already in flight finish and
their answers are applied, then the first failure is raised, so the caller stops with
everything Xero answered on record.
"""

from __future__ import annotations

import contextvars
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from xerosync.xero.errors import BudgetExhausted

B = TypeVar("B")
R = TypeVar("R")

SLOT_TRIES = 50
"""Attempts at a permit refused for concurrency alone (each waits the budget's hint, ~0.1 s)."""


def _patient(send: Callable[[B], R]) -> Callable[[B], R]:
    """`send`, trying again while the only refusal is "no in-flight permit free"."""

    def run(batch: B) -> R:
        for _ in range(SLOT_TRIES - 1):
            try:
                return send(batch)
            except BudgetExhausted as exc:
                if exc.dimension != "concurrent":
                    raise
                time.sleep(min(1.0, exc.retry_after or 0.1))
        return send(batch)

    return run


def send_batches(
    batches: Iterable[B],
    send: Callable[[B], R],
    apply: Callable[[B, R], None],
    *,
    width: int,
) -> None:
    """`send` each batch (up to `width` at once, on threads), then `apply` its answer here.

    `batches` is pulled lazily on this thread, so building a batch (and committing what must
    be on record before it is sent) happens here, just before it is sent. Raises the first
    failure of a send after applying every answer that did arrive.
    """
    patient = _patient(send)
    if width <= 1:
        for batch in batches:
            apply(batch, patient(batch))
        return
    in_flight: deque[tuple[B, Future[R]]] = deque()
    failure: BaseException | None = None
    source = iter(batches)
    exhausted = False
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="xero-write") as pool:
        while True:
            while failure is None and not exhausted and len(in_flight) < width:
                try:
                    batch = next(source)
                except StopIteration:
                    exhausted = True
                    break
                context = contextvars.copy_context()  # log and audit context go along
                in_flight.append((batch, pool.submit(context.run, patient, batch)))
            if not in_flight:
                break
            batch, future = in_flight.popleft()
            try:
                answer = future.result()
            except Exception as exc:
                failure = failure or exc
                continue
            apply(batch, answer)
    if failure is not None:
        raise failure
