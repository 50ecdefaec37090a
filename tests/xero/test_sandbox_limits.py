"""Against the sandbox: writes cut to its request size limit, a Starter-tier day learned from
its headers (routine work stopping at its share of the day while invoices go on), and the
bytes of a gzipped answer as the sandbox sent them."""

from __future__ import annotations

import pytest
import redis

from tests.fixtures.sandbox import Sandbox
from tests.xero.support import connect, identity_for
from xerosync.xero import codec
from xerosync.xero.auth import MemoryTokenStore, TokenManager
from xerosync.xero.budget import BudgetLimits, RateBudget
from xerosync.xero.client import Exchange, XeroClient
from xerosync.xero.errors import BudgetExhausted, XeroError

pytestmark = pytest.mark.integration

LIMIT = 6_000


def build(
    sandbox: Sandbox, real_redis: redis.Redis, budget: RateBudget, max_request_bytes: int
) -> XeroClient:
    store = MemoryTokenStore()
    store.save(sandbox.tenant_id, connect(sandbox.url))
    tokens = TokenManager(
        key=sandbox.tenant_id,
        store=store,
        identity=identity_for(sandbox.url),
        redis_client=real_redis,
    )
    return XeroClient(
        api_url=sandbox.api_url,
        tenant_id=sandbox.tenant_id,
        tokens=tokens,
        budget=budget,
        timeout=5,
        max_request_bytes=max_request_bytes,
    )


def items(n: int, description: int) -> list[dict[str, object]]:
    return [
        {"Code": f"BIG-{i:03}", "Name": f"Big item {i}", "Description": "d" * description}
        for i in range(n)
    ]


def puts(sandbox: Sandbox) -> list[dict[str, object]]:
    return sandbox.control.requests(path="/api.xro/2.0/Items", method="PUT")


def test_writes_are_cut_to_the_request_size_the_sandbox_takes(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    sandbox.control.config(max_request_bytes=LIMIT)
    budget = RateBudget(real_redis, BudgetLimits())
    # Sent the way a client with Xero's limit would, 30 items of 1 kB are refused (413)...
    with pytest.raises(XeroError) as refused:
        build(sandbox, real_redis, budget, 3_500_000).save("Items", items(30, 1000), method="PUT")
    assert refused.value.status == 413
    # ...cut to the sandbox's limit, every one is saved.
    sandbox.control.clear_requests()
    results = build(sandbox, real_redis, budget, LIMIT).save("Items", items(30, 1000), method="PUT")
    assert all(r.ok for r in results) and [r.index for r in results] == list(range(30))
    saved = {i["Code"] for i in sandbox.control.records("Items")}
    assert {f"BIG-{i:03}" for i in range(30)} <= saved
    calls = puts(sandbox)
    assert len(calls) >= 30 * 1000 // LIMIT and all(c["status"] == 200 for c in calls)


def test_an_element_over_the_limit_never_reaches_the_sandbox(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    sandbox.control.config(max_request_bytes=LIMIT)
    xero = build(sandbox, real_redis, RateBudget(real_redis, BudgetLimits()), LIMIT)
    elements = items(3, 100)
    # Descriptions as long as Xero takes (4,000): together over this limit's 6,000 bytes
    elements[1]["Description"] = "d" * 3999
    elements[1]["PurchaseDescription"] = "p" * 3999
    results = xero.save("Items", elements, method="PUT")
    assert [r.status for r in results] == ["OK", "ERROR", "OK"]
    assert "Code 'BIG-001'" in results[1].errors[0]
    assert len(puts(sandbox)) == 1


def test_a_starter_day_routine_stops_at_its_share_and_invoices_go_on(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    """Scaled: the sandbox's Starter day is 40 calls, ours is configured at 200 (tiers 40 and
    200): the first answer teaches the budget the 40, routine work gets 40 - 2 - 8, invoices
    the 8 of the reserve, and the sandbox never has to answer 429."""
    sandbox.control.config(day_limit=40)
    limits = BudgetLimits(minute=60, day=200, invoice_share=0.2, known_day_limits=(40, 200))
    budget = RateBudget(real_redis, limits)
    xero = build(sandbox, real_redis, budget, LIMIT)
    sandbox.control.clear_requests()
    routine = 0
    with pytest.raises(BudgetExhausted) as info:
        while True:
            xero.get_all("Currencies")
            routine += 1
    assert info.value.dimension == "day" and routine == 40 - 2 - 8
    left = budget.day_left(sandbox.tenant_id)
    assert (left.limit, left.routine_left, left.invoice_left) == (40, 0, 8)
    for _ in range(8):
        xero.get_all("Currencies", priority="invoice")
    with pytest.raises(BudgetExhausted):
        xero.get_all("Currencies", priority="invoice")
    log = sandbox.control.requests(path="/api.xro/2.0/Currencies")
    assert len(log) == 38 and all(entry["status"] == 200 for entry in log)


def test_the_bytes_received_are_what_the_sandbox_sent_gzipped(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    seen: list[Exchange] = []
    xero = build(sandbox, real_redis, RateBudget(real_redis, BudgetLimits()), LIMIT)
    xero.on_exchange = seen.append
    sandbox.control.bulk(Contacts=200)
    sandbox.control.clear_requests()
    rows = xero.get_all("Contacts", page_size=1000)
    (entry,) = sandbox.control.requests(path="/api.xro/2.0/Contacts")
    decoded = len(codec.dumps({"Contacts": rows}).encode())
    assert seen[0].bytes_received == entry["bytes"] < decoded / 3
