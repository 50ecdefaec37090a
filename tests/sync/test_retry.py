"""The one retry policy: Xero's pace first, a capped backoff, a horizon, then deferral."""

from __future__ import annotations

import pytest

from xerosync.sync.retry import (
    INVOICE_POLICY,
    ROUTINE_POLICY,
    Action,
    RaceLost,
    RecordBusy,
    decide,
)
from xerosync.xero.errors import RateLimited, ServerError, ValidationError


def test_an_outage_is_retried_past_three_attempts_at_a_capped_pace() -> None:
    waits = [
        decide(ServerError("503"), attempt, max_countdown=3000, policy=INVOICE_POLICY)
        for attempt in range(40)
    ]
    assert {d.action for d in waits} == {Action.RETRY}
    assert max(d.seconds for d in waits) <= INVOICE_POLICY.max_backoff * 1.1


def test_xeros_retry_after_sets_the_pace() -> None:
    decision = decide(RateLimited("429", retry_after=7.0), 50, max_countdown=3000)
    assert decision.action is Action.RETRY
    assert 7.0 <= decision.seconds <= 7.7


def test_past_the_horizon_the_record_is_deferred() -> None:
    decision = decide(
        ServerError("503"), 3, max_countdown=3000, elapsed=ROUTINE_POLICY.horizon - 1
    )
    assert decision.action is Action.DEFER


def test_a_wait_longer_than_the_broker_holds_a_task_is_deferred() -> None:
    decision = decide(RateLimited("day", retry_after=40_000), 0, max_countdown=3240)
    assert decision.action is Action.DEFER and decision.seconds >= 40_000


def test_what_retrying_cannot_mend_is_failed_at_once() -> None:
    assert decide(ValidationError("bad"), 0, max_countdown=3000).action is Action.FAIL


@pytest.mark.parametrize(
    "race", [RecordBusy("order #1"), RaceLost("order #1", RuntimeError("unique"))]
)
def test_races_between_tasks_are_retried_soon(race: RecordBusy | RaceLost) -> None:
    decision = decide(race, 0, max_countdown=3000)
    assert decision.action is Action.RETRY and decision.seconds < 2
