"""What the client tells the budget about each call: which calls Xero's limiter counted.

Xero sends `X-MinLimit-Remaining` / `X-DayLimit-Remaining` on every call its limiter let
through. An answer without them (an outage page, a refused token) was not counted, nor was a
call that never left; a call without an answer may have been, and counts. Through a
30-second outage, retries would otherwise spend the whole minute on 503s, and the Drafts
would wait for a budget Xero never spent (`bench/outage.py`).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
import requests

from tests.fixtures.sandbox import Sandbox
from tests.xero.fakes import FakeSession, Sent
from xerosync.xero.budget import BudgetLimits, Permit, RateBudget
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import AuthenticationError, ServerError, XeroTimeout

API = "http://xero.test/api.xro/2.0"
TENANT = "tenant-1"
HEADERS = {"X-MinLimit-Remaining": "50", "X-DayLimit-Remaining": "4000"}


class Tokens:
    def __init__(self, token: str = "tok-1") -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def after_unauthorized(self, rejected_access_token: str) -> str:
        return self.token + "-new"


def _client(handler: Any, budget: RateBudget, api: str = API, tokens: Any = None) -> XeroClient:
    return XeroClient(
        api_url=api,
        tenant_id=TENANT,
        tokens=tokens or Tokens(),
        budget=budget,
        session=FakeSession(handler),
    )


@pytest.fixture
def budget(real_redis: redis.Redis) -> RateBudget:
    return RateBudget(real_redis, BudgetLimits(minute=10, invoice_share=0.0))


def test_an_answer_without_rate_headers_is_not_counted(budget: RateBudget) -> None:
    xero = _client(lambda s: (503, "<html>Down for maintenance</html>", {}), budget)
    for _ in range(20):
        with pytest.raises(ServerError):
            xero.get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 0
    assert isinstance(budget.try_acquire(TENANT), Permit)


def test_an_uncounted_call_gives_back_what_it_took_from_xeros_count(budget: RateBudget) -> None:
    outcomes = iter([(200, {"Items": []}, {"X-MinLimit-Remaining": "6"})] + [(503, "", {})] * 9)
    xero = _client(lambda s: next(outcomes), budget)
    xero.get_all("Items")
    for _ in range(9):
        with pytest.raises(ServerError):
            xero.get_all("Items", priority="invoice")
    snap = budget.snapshot(TENANT)
    assert snap["xero_minute_remaining"] == 6 and snap["minute_used"] == 1
    assert len([budget.acquire(TENANT) for _ in range(5)]) == 5  # 6 left, 1 never spent


def test_an_answer_with_rate_headers_is_counted_whatever_its_status(budget: RateBudget) -> None:
    outcomes = iter([(200, {"Items": []}, HEADERS), (500, "oops", HEADERS)])
    xero = _client(lambda s: next(outcomes), budget)
    xero.get_all("Items")
    with pytest.raises(ServerError):
        xero.get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 2


def test_a_call_without_an_answer_counts_one_that_never_left_does_not(
    budget: RateBudget,
) -> None:
    def timeout(sent: Sent) -> Any:
        raise requests.ReadTimeout("no answer")

    def refused(sent: Sent) -> Any:
        raise requests.ConnectTimeout("no connection")

    with pytest.raises(XeroTimeout):
        _client(timeout, budget).get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 1
    with pytest.raises(XeroTimeout):
        _client(refused, budget).get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 1

    class Broken(Tokens):
        def access_token(self) -> str:
            raise AuthenticationError("no token")

    with pytest.raises(AuthenticationError):
        _client(lambda s: (200, {}, HEADERS), budget, tokens=Broken()).get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 1


def test_a_refused_token_then_the_call_counts_once(budget: RateBudget) -> None:
    def handler(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        if sent.headers["Authorization"] == "Bearer tok-1":
            return 401, {"Title": "Unauthorized", "Detail": "TokenExpired"}, {}
        return 200, {"Items": []}, HEADERS

    _client(handler, budget).get_all("Items")
    assert budget.snapshot(TENANT)["minute_used"] == 1


@pytest.mark.integration
def test_through_a_sandbox_outage_the_budget_stays_whole(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    sandbox.control.config(minute_limit=10, minute_seconds=60)
    budget = RateBudget(real_redis, BudgetLimits(minute=10, invoice_share=0.0))

    class SandboxTokens(Tokens):
        def access_token(self) -> str:
            return sandbox.token().access_token

    xero = XeroClient(
        api_url=sandbox.api_url,
        tenant_id=sandbox.tenant_id,
        tokens=SandboxTokens(),
        budget=budget,
        budget_key=TENANT,
    )
    sandbox.control.outage(60, status=503)
    for _ in range(15):
        with pytest.raises(ServerError):
            xero.get_all("Currencies")
    sandbox.control.clear_faults()
    for _ in range(9):  # the whole minute, but the margin
        xero.get_all("Currencies")
    log = sandbox.control.requests(path="/api.xro/2.0")
    assert [r["status"] for r in log].count(503) == 15
    assert [r["status"] for r in log].count(200) == 9
    assert not [r for r in log if r["status"] == 429]
