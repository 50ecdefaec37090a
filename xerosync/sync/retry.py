"""When to try a failed unit of work again: the one retry policy of every task.

Xero's own `Retry-After` (or the shared budget's) wins when there is one: that is Xero's pace.
Otherwise (an outage, a timeout) the wait doubles per attempt up to the policy's ceiling, short
enough for invoices that a Draft follows Xero's recovery within seconds. A unit of work keeps
being retried for the policy's `horizon` (seconds since its first try); past it, or when a wait
is longer than the broker lets an unacknowledged task wait (its visibility timeout), the record
is *deferred* in the database with its error, and the routine pass takes it up. A failure that
retrying cannot mend is given up at once, its error on the record. Nothing loops forever.

Anything with `retryable` and `retry_after` can be decided on: Xero's errors, and the races
between two units of work (`RecordBusy`, `RaceLost`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Action(StrEnum):
    RETRY = "retry"
    """Send the task again after `seconds`."""
    DEFER = "defer"
    """Note the record as deferred for `seconds`; the routine pass takes it up."""
    FAIL = "fail"
    """Retrying will not help: record the error where an operator sees it."""


class Retryable(Protocol):
    retryable: bool
    retry_after: float | None


@dataclass(frozen=True)
class Decision:
    action: Action
    seconds: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how fast one kind of work is retried."""

    max_backoff: float
    """Ceiling of the doubling wait when Xero gave no `Retry-After` (outage, timeout)."""
    horizon: float
    """Seconds after the first try past which the work is deferred instead of retried."""
    base_delay: float = 1.0
    jitter: float = 0.1


INVOICE_POLICY = RetryPolicy(max_backoff=3.0, horizon=900.0)
"""A confirmed order: Xero is asked again every few seconds, so the Draft follows recovery."""
ROUTINE_POLICY = RetryPolicy(max_backoff=30.0, horizon=1800.0)
"""Customer and product pushes: the routine pass also carries them."""


class RecordBusy(Exception):
    """Another unit of work holds this record's lease: come back when it is done."""

    retryable = True

    def __init__(self, what: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{what} is being worked on by another task")
        self.retry_after: float | None = retry_after


class RaceLost(Exception):
    """Another unit of work wrote the same row first (a unique constraint, a locked
    database): trying again finds its work done."""

    retryable = True

    def __init__(self, what: str, cause: Exception, retry_after: float = 0.5) -> None:
        super().__init__(f"{what}: another task wrote it first ({type(cause).__name__})")
        self.retry_after: float | None = retry_after


def decide(
    error: Retryable,
    attempt: int,
    *,
    max_countdown: float,
    policy: RetryPolicy = ROUTINE_POLICY,
    elapsed: float = 0.0,
) -> Decision:
    """What to do after `error` on the `attempt`-th retry (0 for the first run), `elapsed`
    seconds after the first try."""
    if not error.retryable:
        return Decision(Action.FAIL)
    if error.retry_after is not None:
        wait = max(0.0, error.retry_after)
    else:
        wait = min(policy.base_delay * (2 ** min(attempt, 30)), policy.max_backoff)
    wait += wait * random.uniform(0, policy.jitter)
    if wait > max_countdown or elapsed + wait > policy.horizon:
        return Decision(Action.DEFER, wait)
    return Decision(Action.RETRY, wait)
