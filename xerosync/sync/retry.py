"""When to try a failed call again: the one retry policy of every task.

Xero's own `Retry-After` wins when it gives one; otherwise the wait doubles per attempt. No
countdown is ever longer than the broker lets an unacknowledged task wait (its visibility
timeout): work that must wait longer is *deferred* in the database instead, and the routine
pass picks it up. A record that keeps failing for reasons Xero does not explain is given up
after `max_attempts` with its last error visible, so nothing loops forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from xerosync.xero.errors import XeroError


class Action(StrEnum):
    RETRY = "retry"
    """Send the task again after `seconds`."""
    DEFER = "defer"
    """Note the record as deferred for `seconds`; the routine pass takes it up."""
    FAIL = "fail"
    """Retrying will not help: record the error where an operator sees it."""


@dataclass(frozen=True)
class Decision:
    action: Action
    seconds: float = 0.0


def decide(
    error: XeroError,
    attempt: int,
    *,
    max_countdown: float,
    max_attempts: int = 8,
    base_delay: float = 2.0,
    jitter: float = 0.1,
) -> Decision:
    """What to do after `error` on the `attempt`-th retry (0 for the first run)."""
    if not error.retryable:
        return Decision(Action.FAIL)
    if error.retry_after is not None:
        wait = max(0.0, error.retry_after)
    else:
        wait = base_delay * (2**attempt)
    wait += wait * random.uniform(0, jitter)
    if wait > max_countdown:
        return Decision(Action.DEFER, wait)
    if attempt >= max_attempts:
        return Decision(Action.DEFER, max(wait, max_countdown / 2))
    return Decision(Action.RETRY, wait)
