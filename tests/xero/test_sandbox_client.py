"""The client against the sandbox: reads, paging, writes matched back, idempotent retries,
errors from real responses, and schemas loading what the sandbox sends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis

from tests.fixtures.sandbox import Sandbox
from tests.xero.support import connect, identity_for
from xerosync.xero.auth import MemoryTokenStore, TokenManager
from xerosync.xero.budget import BudgetLimits, RateBudget
from xerosync.xero.client import Exchange, XeroClient
from xerosync.xero.errors import (
    NotFound,
    PermissionDenied,
    ServerError,
    TransportError,
    ValidationError,
)
from xerosync.xero.schemas import SCHEMAS

pytestmark = pytest.mark.integration


@pytest.fixture
def exchanges() -> list[Exchange]:
    return []


@pytest.fixture
def xero(sandbox: Sandbox, real_redis: redis.Redis, exchanges: list[Exchange]) -> XeroClient:
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
        budget=RateBudget(real_redis, BudgetLimits()),
        timeout=5,
        on_exchange=exchanges.append,
    )


def gets(sandbox: Sandbox, resource: str) -> list[dict[str, Any]]:
    return sandbox.control.requests(path=f"/api.xro/2.0/{resource}", method="GET")


def test_paging_ends_on_an_exact_multiple(sandbox: Sandbox, xero: XeroClient) -> None:
    existing = len(sandbox.control.records("Contacts"))
    sandbox.control.bulk(Contacts=30 - existing)
    sandbox.control.clear_requests()
    rows = xero.get_all("Contacts", page_size=10, include_archived=True)
    assert len(rows) == 30 and len({r["ContactID"] for r in rows}) == 30
    calls = gets(sandbox, "Contacts")
    # The pagination block's pageCount ends it without the extra empty page (the unit tests
    # cover responses without a pagination block, where an empty page 4 is needed).
    assert [c["query"]["page"] for c in calls] == [["1"], ["2"], ["3"]]
    assert all(c["query"]["order"] == ["UpdatedDateUTC ASC"] for c in calls)
    stamps = [r["UpdatedDateUTC"] for r in rows]
    assert stamps == sorted(stamps, key=lambda s: int(s[6:-7].split("+")[0]))


def test_empty_first_page(sandbox: Sandbox, xero: XeroClient) -> None:
    since = datetime.now(UTC) + timedelta(days=1)
    pages = list(xero.pages("Invoices", modified_since=since))
    assert len(pages) == 1 and pages[0].rows == [] and pages[0].last


def test_if_modified_since_where_and_items_unpaged(sandbox: Sandbox, xero: XeroClient) -> None:
    contact = sandbox.control.records("Contacts")[0]
    time.sleep(1.1)
    since = datetime.now(UTC)
    time.sleep(1.1)
    sandbox.control.edit("Contacts", contact["ContactID"], {"EmailAddress": "new@example.com"})
    changed = xero.get_all("Contacts", modified_since=since)
    assert [c["ContactID"] for c in changed] == [contact["ContactID"]]
    sent = gets(sandbox, "Contacts")[-1]
    assert sent["query"]["pageSize"] == ["1000"]

    accrec = xero.get_all("Invoices", where='Type=="ACCREC"')
    assert accrec and all(i["Type"] == "ACCREC" for i in accrec)
    items = xero.get_all("Items")
    assert items and "page" not in gets(sandbox, "Items")[-1]["query"]


def test_batch_write_matched_back_and_keys_sent(
    sandbox: Sandbox, xero: XeroClient, exchanges: list[Exchange]
) -> None:
    elements: list[dict[str, Any]] = [{"Name": f"Batch {i}"} for i in range(55)]
    elements[7] = {"Name": ""}
    elements[52] = {"Name": "Bad email", "EmailAddress": "not-an-email"}
    results = xero.save("Contacts", elements, method="PUT")
    assert len(results) == 55 and [r.index for r in results] == list(range(55))
    assert [r.index for r in results if not r.ok] == [7, 52]
    assert results[52].field == "EmailAddress" and results[52].id is None
    assert results[0].id and results[0].record and results[0].record["Name"] == "Batch 0"
    writes = sandbox.control.requests(path="/api.xro/2.0/Contacts", method="PUT")
    assert len(writes) == 2 and all(w["idempotency_key"] for w in writes)
    assert all(w["query"]["summarizeErrors"] == ["false"] for w in writes)
    assert [e.elements for e in exchanges if e.method == "PUT"] == [50, 5]


def test_retry_after_lost_response_replays_instead_of_duplicating(
    sandbox: Sandbox, xero: XeroClient
) -> None:
    sandbox.control.add_fault("lost_response", method="PUT", path="/api.xro/2.0/Contacts")
    contact = [{"Name": "Exactly Once Ltd"}]
    with pytest.raises(TransportError) as info:
        xero.save("Contacts", contact, method="PUT")
    assert info.value.may_have_applied and info.value.retryable
    results = xero.save("Contacts", contact, method="PUT")
    assert results[0].ok
    writes = sandbox.control.requests(path="/api.xro/2.0/Contacts", method="PUT")
    assert [w["replayed"] for w in writes] == [False, True]
    assert writes[0]["idempotency_key"] == writes[1]["idempotency_key"]
    named = [c for c in sandbox.control.records("Contacts") if c["Name"] == "Exactly Once Ltd"]
    assert len(named) == 1


def test_errors_from_real_responses(sandbox: Sandbox, xero: XeroClient) -> None:
    with pytest.raises(NotFound):
        xero.get("Invoices", "5f0e3f6e-0000-4000-8000-000000000000")
    with pytest.raises(ValidationError) as bad_where:
        xero.get_all("Invoices", where='Type=="ACCREC" AND (')
    assert not bad_where.value.retryable
    sandbox.control.add_fault("error", status=503, path="/api.xro/2.0/Items")
    with pytest.raises(ServerError) as down:
        xero.get_all("Items")
    assert down.value.retryable and down.value.status == 503
    sandbox.control.add_fault("drop", path="/api.xro/2.0/Items")
    with pytest.raises(TransportError):
        xero.get_all("Items")
    stranger = XeroClient(
        api_url=sandbox.api_url,
        tenant_id="00000000-1111-2222-3333-444444444444",
        tokens=xero.tokens,
        budget=None,
        timeout=5,
    )
    with pytest.raises(PermissionDenied):
        stranger.get_all("Items")
    assert xero.budget is not None
    assert xero.budget.snapshot(sandbox.tenant_id)["in_flight"] == 0


def test_schemas_load_everything_the_sandbox_sends(xero: XeroClient) -> None:
    for resource, schema in SCHEMAS.items():
        rows = xero.get_all(resource)
        assert rows, resource
        loaded = schema(many=True).load(rows)
        assert len(loaded) == len(rows)
    invoices = SCHEMAS["Invoices"](many=True).load(xero.get_all("Invoices"))
    first = invoices[0]
    assert isinstance(first["Total"], Decimal)
    assert first["UpdatedDateUTC"].tzinfo is not None
    assert all(isinstance(line["UnitAmount"], Decimal) for line in first["LineItems"])
