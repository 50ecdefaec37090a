"""The budget against the real sandbox and a real Redis at a minute boundary (issue 12).

Xero's minute windows are fixed and open with the first call after the last one closed, so
they start when Xero decides, not on our clock. This drives the exact sequence that made two
tasks fetching the template contact get 429s at a minute boundary, every run:

1. a slow call opens Xero's window W1; the budget's mirror of `X-MinLimit-Remaining` starts
   when its answer comes back, a second and a half later, and lives one window from then;
2. after W1 ends (Xero's clock) but before the mirror lapses (ours), a call opens W2; its
   report moved the mirror on to W2's count but kept W1's lapse time;
3. routine work and invoices spend W2 down to the margin: W2 has one call left;
4. the mirror lapses while W2 still runs: the budget fell back to a local fixed window,
   aligned to the epoch, not to Xero, whose new window had just begun (count 0);
5. three tasks retrying at that moment each fetch the template contact: the local window let
   all three through before any answer came back; Xero served one and refused two.

What must hold instead: Xero serves no 429, and the three tasks get through once W2 is over.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import redis

from tests.fixtures.sandbox import Sandbox
from xerosync.xero.budget import BudgetLimits, RateBudget
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import BudgetExhausted, XeroError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

MINUTE = 4.0
LIMIT = 10
LIMITS = BudgetLimits(minute=LIMIT, concurrent=5, minute_seconds=MINUTE, invoice_share=0.2)
SLOW_MS = 1500


class StaticTokens:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def after_unauthorized(self, rejected_access_token: str) -> str:
        return self.token


def _client(sandbox: Sandbox, budget: RateBudget) -> XeroClient:
    return XeroClient(
        api_url=sandbox.api_url,
        tenant_id=sandbox.tenant_id,
        tokens=StaticTokens(sandbox.token().access_token),
        budget=budget,
        timeout=10,
    )


def _remaining(client: XeroClient, resource: str, priority: str = "routine") -> int:
    response = client.request("GET", resource, priority=priority)
    return int(response.headers["X-MinLimit-Remaining"])


def _wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def _served_429s(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.control.requests(path="/api.xro/2.0") if r["status"] == 429]


def test_no_429_when_the_mirror_lapses_inside_a_window_xero_opened_late(
    sandbox: Sandbox, redis_url: str
) -> None:
    sandbox.control.config(minute_limit=LIMIT, minute_seconds=MINUTE, concurrent_limit=5)
    conn = redis.Redis.from_url(redis_url)
    budget = RateBudget(conn, LIMITS, prefix=f"test:{uuid.uuid4().hex[:8]}:budget")
    client = _client(sandbox, budget)
    template_id = next(
        c["ContactID"]
        for c in sandbox.control.records("Contacts")
        if c["Name"] == "Template Ledger"
    )
    sandbox.token()  # the token exchange is not an accounting call

    # t0 + 5 is an epoch multiple of the window: the old local fixed window (epoch-aligned)
    # turned over there, between steps 3 and 5 below.
    now = time.time()
    t0 = now + (3.0 - now % MINUTE) % MINUTE
    if t0 - now < 0.5:
        t0 += MINUTE
    _wait_until(t0)

    # 1. A slow call opens Xero's window W1 at t0; its answer comes back at t0 + 1.5.
    sandbox.control.config(latency_ms=SLOW_MS)
    slow = threading.Thread(target=_remaining, args=(client, "Currencies"))
    slow.start()
    time.sleep(0.3)
    sandbox.control.config(latency_ms=0)
    slow.join()
    assert time.time() < t0 + 2.5, "the machine is too loaded for this timing"

    # 2. W1 is over at t0 + 4 by Xero's clock: the next call opens W2.
    _wait_until(t0 + MINUTE + 0.3)
    assert _remaining(client, "Currencies") == LIMIT - 1, "this call should open a new window"

    # 3. Spend W2 as routine work and invoices may: routine down to the reserve and margin,
    #    invoices down to the margin.
    left = LIMIT
    for resource, priority in (("Currencies", "routine"), ("Organisation", "invoice")):
        while True:
            try:
                left = _remaining(client, resource, priority)
            except BudgetExhausted:
                break
    assert left <= 2, f"W2 should be nearly spent, {left} left"
    assert time.time() < t0 + 5.0, "the machine is too loaded for this timing"

    # 5. Past the moment the mirror of step 1 lapsed (t0 + 1.5 + 4), while W2 (opened at
    #    t0 + 4.3) still has a call or none left, three tasks each fetch the template contact
    #    at once, and retry when the budget says so, as a Celery task would.
    _wait_until(t0 + SLOW_MS / 1000 + MINUTE + 0.3)
    barrier = threading.Barrier(3)
    outcomes: list[str] = []
    lock = threading.Lock()

    def task() -> None:
        own = _client(sandbox, budget)
        barrier.wait(timeout=10)
        deadline = time.time() + 4 * MINUTE
        while time.time() < deadline:
            try:
                own.get("Contacts", template_id)
                outcome = "ok"
                break
            except BudgetExhausted as exc:
                time.sleep(exc.retry_after or 0.05)
            except XeroError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
                break
        else:
            outcome = "never got a permit"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=task) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    refused = _served_429s(sandbox)
    assert refused == [], f"{len(refused)} 429s served: {refused}"
    assert outcomes == ["ok", "ok", "ok"], outcomes
