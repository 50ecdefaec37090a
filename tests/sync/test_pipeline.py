"""Write batches in flight together: order, bounds, failures and context (no I/O)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextvars import ContextVar

import pytest

from xerosync.sync.pipeline import send_batches
from xerosync.xero.errors import BudgetExhausted, ServerError

SAFETY = 10.0  # seconds a test waits for a thread before it fails instead of hanging


class Gate:
    """Counts sends in flight; each waits until `width` are in flight together (or gives up),
    so a test sees whether the pipeline really keeps that many going at once."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.full = threading.Event()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= self.width:
                self.full.set()
        self.full.wait(SAFETY)

    def __exit__(self, *_exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_answers_are_applied_in_the_order_the_batches_were_built() -> None:
    applied: list[tuple[int, int]] = []
    send_batches(range(10), lambda b: b * 10, lambda b, r: applied.append((b, r)), width=3)
    assert applied == [(b, b * 10) for b in range(10)]


def test_up_to_width_sends_are_in_flight_together() -> None:
    gate = Gate(3)

    def send(batch: int) -> int:
        with gate:
            return batch

    send_batches(range(9), send, lambda b, r: None, width=3)
    assert gate.most == 3


def test_batches_are_built_just_in_time() -> None:
    built: list[int] = []
    applied: list[int] = []
    ahead: list[int] = []

    def source() -> Iterator[int]:
        for n in range(20):
            built.append(n)
            ahead.append(len(built) - len(applied))
            yield n

    send_batches(source(), lambda b: b, lambda b, r: applied.append(b), width=4)
    assert applied == list(range(20))
    assert max(ahead) <= 4


def test_a_failure_stops_new_sends_applies_what_arrived_and_is_raised() -> None:
    sent: list[int] = []
    applied: list[int] = []
    lock = threading.Lock()

    def send(batch: int) -> int:
        with lock:
            sent.append(batch)
        if batch == 2:
            raise ServerError("Xero is down", status=503)
        return batch

    with pytest.raises(ServerError):
        send_batches(range(50), send, lambda b, r: applied.append(b), width=3)
    assert 2 not in applied
    assert set(applied) == set(sent) - {2}
    assert max(sent) <= 2 + 3  # nothing new after the failure was seen


def test_a_refusal_for_concurrency_alone_is_tried_again() -> None:
    tries: dict[int, int] = {}

    def send(batch: int) -> int:
        tries[batch] = tries.get(batch, 0) + 1
        if tries[batch] < 3:
            raise BudgetExhausted(dimension="concurrent", retry_after=0.001)
        return batch

    applied: list[int] = []
    send_batches(range(4), send, lambda b, r: applied.append(b), width=2)
    assert applied == [0, 1, 2, 3]
    assert set(tries.values()) == {3}


def test_a_minute_budget_refusal_is_not_waited_for() -> None:
    def send(batch: int) -> int:
        raise BudgetExhausted(dimension="minute", retry_after=30)

    with pytest.raises(BudgetExhausted) as caught:
        send_batches(range(4), send, lambda b, r: None, width=2)
    assert caught.value.dimension == "minute"


def test_the_callers_context_reaches_the_sending_threads() -> None:
    task: ContextVar[str] = ContextVar("task", default="-")
    seen: list[str] = []
    task.set("task-42")
    send_batches(range(3), lambda b: seen.append(task.get()), lambda b, r: None, width=3)
    assert seen == ["task-42"] * 3


def test_width_one_sends_one_at_a_time() -> None:
    gate = Gate(2)

    def send(batch: int) -> int:
        with gate:
            return batch

    gate.full.set()  # nobody waits: only the count matters
    send_batches(range(5), send, lambda b, r: None, width=1)
    assert gate.most == 1
