"""The client without a network: paging ends, batches matched back, keys, 401, 429, hooks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import requests

from tests.xero.fakes import FakeSession, Sent
from xerosync.xero.budget import BudgetLimits, RateBudget
from xerosync.xero.client import Exchange, XeroClient, idempotency_key, match_results
from xerosync.xero.errors import (
    AuthenticationError,
    BudgetExhausted,
    NotFound,
    RateLimited,
    TransportError,
    ValidationError,
    XeroTimeout,
)

API = "http://xero.test/api.xro/2.0"
TENANT = "tenant-1"


class Tokens:
    def __init__(self) -> None:
        self.current = "tok-secret-1"
        self.refreshes = 0

    def access_token(self) -> str:
        return self.current

    def after_unauthorized(self, rejected_access_token: str) -> str:
        self.refreshes += 1
        self.current = f"tok-secret-{self.refreshes + 1}"
        return self.current


def client(
    handler: Any, budget: RateBudget | None = None, **kw: Any
) -> tuple[XeroClient, FakeSession]:
    session = FakeSession(handler)
    return XeroClient(
        api_url=API, tenant_id=TENANT, tokens=Tokens(), budget=budget, session=session, **kw
    ), session


def contacts_pages(total: int, size: int) -> Any:
    def handler(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        page = int(sent.params["page"])
        rows = [{"ContactID": f"c{i}"} for i in range((page - 1) * size, min(total, page * size))]
        return 200, {"Contacts": rows}, {}

    return handler


@pytest.mark.parametrize(("total", "requests_made"), [(0, 1), (5, 1), (10, 2), (20, 3), (23, 3)])
def test_paging_ends_after_a_short_page(total: int, requests_made: int) -> None:
    xero, session = client(contacts_pages(total, 10))
    pages = list(xero.pages("Contacts", page_size=10))
    assert sum(len(p.rows) for p in pages) == total
    assert len(session.sent) == requests_made and pages[-1].last
    assert [p.number for p in pages] == list(range(1, requests_made + 1))


def test_paging_trusts_pagination_block_when_present() -> None:
    def handler(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        page = int(sent.params["page"])
        rows = [{"InvoiceID": str(i)} for i in range(3)]
        return (
            200,
            {
                "Invoices": rows,
                "pagination": {"page": page, "pageSize": 3, "pageCount": 2, "itemCount": 6},
            },
            {},
        )

    xero, session = client(handler)
    assert len(xero.get_all("Invoices", page_size=1000)) == 6 and len(session.sent) == 2


def test_read_parameters_and_headers() -> None:
    xero, session = client(contacts_pages(1, 1000))
    since = datetime(2024, 5, 1, 10, 30, 45, 500000, tzinfo=UTC)
    list(
        xero.rows(
            "Contacts", modified_since=since, where='ContactStatus=="ACTIVE"', include_archived=True
        )
    )
    sent = session.sent[0]
    assert sent.path == "/api.xro/2.0/Contacts"
    assert sent.params == {
        "where": 'ContactStatus=="ACTIVE"',
        "includeArchived": "true",
        "order": "UpdatedDateUTC ASC",
        "pageSize": "1000",
        "page": "1",
    }
    assert sent.headers["If-Modified-Since"] == "Wed, 01 May 2024 10:30:45 GMT"
    assert sent.headers["xero-tenant-id"] == TENANT
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Authorization"] == "Bearer tok-secret-1"
    assert "Idempotency-Key" not in sent.headers


def test_items_are_not_paged() -> None:
    xero, session = client(lambda s: (200, {"Items": [{"Code": str(i)} for i in range(1500)]}, {}))
    assert len(xero.get_all("Items")) == 1500
    assert "page" not in session.sent[0].params and len(session.sent) == 1


def test_get_one_and_not_found() -> None:
    def handler(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        if sent.path.endswith("/known"):
            return 200, {"Invoices": [{"InvoiceID": "known", "Total": 1.10}]}, {}
        return 404, "The resource you're looking for cannot be found", {}

    xero, _ = client(handler)
    assert str(xero.get("Invoices", "known")["Total"]) == "1.1"
    with pytest.raises(NotFound):
        xero.get("Invoices", "missing")


def echo_batch(sent: Sent) -> tuple[int, Any, dict[str, str]]:
    out = []
    for i, element in enumerate(sent.body["Contacts"]):
        if element.get("Name") == "bad":
            out.append(
                {
                    **element,
                    "ContactID": "00000000-0000-0000-0000-000000000000",
                    "HasValidationErrors": True,
                    "StatusAttributeString": "ERROR",
                    "ValidationErrors": [{"Message": "Email address must be valid."}],
                }
            )
        elif element.get("Name") == "warn":
            out.append(
                {
                    **element,
                    "ContactID": f"id-{element['Name']}-{i}",
                    "StatusAttributeString": "WARNING",
                    "Warnings": [{"Message": "Phone number truncated"}],
                }
            )
        else:
            out.append(
                {**element, "ContactID": f"id-{element['Name']}", "StatusAttributeString": "OK"}
            )
    return 200, {"Contacts": out}, {}


def test_batches_of_50_with_summarize_errors_false_matched_in_order() -> None:
    xero, session = client(echo_batch)
    names = [f"n{i}" for i in range(120)]
    names[3], names[77] = "bad", "warn"
    results = xero.save("Contacts", [{"Name": n} for n in names], method="PUT")
    assert [len(s.body["Contacts"]) for s in session.sent] == [50, 50, 20]
    assert all(s.params["summarizeErrors"] == "false" for s in session.sent)
    assert [r.index for r in results] == list(range(120))
    assert results[0].id == "id-n0" and results[0].ok
    bad = results[3]
    assert bad.status == "ERROR" and not bad.ok and bad.id is None
    assert bad.errors == ("Email address must be valid.",) and bad.field == "EmailAddress"
    assert results[77].status == "WARNING" and results[77].ok
    assert results[77].warnings == ("Phone number truncated",)
    assert results[119].input == {"Name": "n119"}


def test_idempotency_keys_derive_from_content_and_stay_short() -> None:
    xero, session = client(echo_batch)
    xero.save("Contacts", [{"Name": "a"}])
    xero.save("Contacts", [{"Name": "a"}])
    xero.save("Contacts", [{"Name": "b"}])
    xero.save("Contacts", [{"Name": "a"}], method="PUT")
    keys = [s.headers["Idempotency-Key"] for s in session.sent]
    assert keys[0] == keys[1] and len(set(keys)) == 3
    assert all(len(k) <= 128 for k in keys)
    own = "order-42-" + "x" * 150
    with pytest.raises(ValueError):
        xero.save("Contacts", [{"Name": "a"}], idempotency_key=own)
    xero.save("Contacts", [{"Name": str(i)} for i in range(60)], idempotency_key="x" * 128)
    assert all(len(s.headers["Idempotency-Key"]) <= 128 for s in session.sent[-2:])
    assert len({s.headers["Idempotency-Key"] for s in session.sent[-2:]}) == 2


def test_idempotency_key_canonical() -> None:
    a = idempotency_key(
        "POST",
        "/api.xro/2.0/Items",
        {"summarizeErrors": False},
        {"Items": [{"Code": "A", "SalesDetails": {"UnitPrice": 1.5}}]},
    )
    b = idempotency_key(
        "post",
        "/api.xro/2.0/Items/",
        "summarizeErrors=false",
        {"Items": [{"SalesDetails": {"UnitPrice": 1.50}, "Code": "A"}]},
    )
    assert a == b and len(a) <= 128


def test_match_by_id_or_natural_key_when_counts_differ() -> None:
    inputs = [{"Code": "A"}, {"Code": "B"}, {"ItemID": "id-c", "Code": "C"}]
    returned = [
        {"ItemID": "id-c", "Code": "C", "StatusAttributeString": "OK"},
        {"ItemID": "id-a", "Code": "A"},
    ]
    results = match_results("Items", inputs, returned)
    assert [(r.index, r.status, r.id) for r in results] == [
        (0, "OK", "id-a"),
        (1, "MISSING", None),
        (2, "OK", "id-c"),
    ]


def test_validation_error_on_the_whole_request_raises() -> None:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception",
        "Elements": [{"ValidationErrors": [{"Message": "JSON for the request is invalid"}]}],
    }
    xero, _ = client(lambda s: (400, body, {}))
    with pytest.raises(ValidationError) as info:
        xero.save("Invoices", [{"Type": "ACCREC"}])
    assert info.value.elements[0].messages == ("JSON for the request is invalid",)


def test_401_gets_a_new_token_and_retries_once() -> None:
    calls: list[str] = []

    def handler(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        calls.append(sent.headers["Authorization"])
        if sent.headers["Authorization"] == "Bearer tok-secret-1":
            return 401, {"Status": 401, "Detail": "TokenExpired: token expired at x"}, {}
        return 200, {"Items": []}, {}

    xero, _ = client(handler)
    assert xero.get_all("Items") == []
    assert calls == ["Bearer tok-secret-1", "Bearer tok-secret-2"]

    xero2, session = client(lambda s: (401, {"Detail": "AuthenticationUnsuccessful"}, {}))
    with pytest.raises(AuthenticationError):
        xero2.get_all("Items")
    assert len(session.sent) == 2


def test_429_closes_the_shared_budget(real_redis: redis.Redis) -> None:
    budget = RateBudget(real_redis, BudgetLimits())
    headers = {"X-Rate-Limit-Problem": "minute", "Retry-After": "30"}
    xero, session = client(lambda s: (429, "", headers), budget=budget)
    with pytest.raises(RateLimited) as info:
        xero.get_all("Items")
    assert info.value.limit == "minute" and info.value.retry_after == 30
    with pytest.raises(BudgetExhausted) as closed:
        xero.get_all("Items", priority="invoice")
    assert closed.value.dimension == "closed" and len(session.sent) == 1
    assert budget.snapshot(TENANT)["in_flight"] == 0


def test_permits_are_returned_on_every_outcome_and_headers_correct(real_redis: redis.Redis) -> None:
    budget = RateBudget(real_redis, BudgetLimits(concurrent=2, invoice_share=0.0))
    outcomes = iter(
        [
            (200, {"Items": []}, {"X-MinLimit-Remaining": "17", "X-DayLimit-Remaining": "900"}),
            (500, "<html>oops</html>", {}),
        ]
    )
    xero, _ = client(lambda s: next(outcomes), budget=budget)
    xero.get_all("Items")
    with pytest.raises(Exception):  # noqa: B017 - any error; the permit must come back
        xero.get_all("Items")
    snap = budget.snapshot(TENANT)
    # The outage page carried no rate-limit headers: Xero did not count it, nor does the budget.
    assert snap["in_flight"] == 0 and snap["xero_day_remaining"] == 900
    assert snap["xero_minute_remaining"] == 17 and snap["minute_used"] == 1


def test_transport_errors_say_whether_a_write_may_have_applied() -> None:
    def timeout(sent: Sent) -> Any:
        raise requests.ReadTimeout("slow")

    def dropped(sent: Sent) -> Any:
        raise requests.ConnectionError("reset")

    xero, _ = client(timeout)
    with pytest.raises(XeroTimeout) as info:
        xero.save("Items", [{"Code": "A"}])
    assert info.value.may_have_applied and info.value.retryable
    xero, _ = client(dropped)
    with pytest.raises(TransportError) as info2:
        xero.get_all("Items")
    assert not info2.value.may_have_applied


def test_on_exchange_sees_every_attempt_and_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Exchange] = []
    outcomes = iter(
        [
            (401, {"Detail": "TokenExpired"}, {}),
            (
                200,
                {"Contacts": [{"ContactID": "1", "StatusAttributeString": "OK"}]},
                {"Xero-Correlation-Id": "corr"},
            ),
        ]
    )
    xero, _ = client(lambda s: next(outcomes), on_exchange=seen.append)
    caplog.set_level(logging.DEBUG, logger="xerosync.xero")
    xero.save("Contacts", [{"Name": "A"}], priority="invoice")
    assert [(e.status, e.attempt, e.method) for e in seen] == [(401, 1, "POST"), (200, 2, "POST")]
    assert seen[1].idempotency_key and seen[1].elements == 1 and seen[1].correlation_id == "corr"
    assert isinstance(seen[0].error, AuthenticationError) and seen[1].error is None
    assert seen[1].priority == "invoice" and seen[1].tenant_id == TENANT
    everything = repr(seen) + caplog.text + repr(xero) + str(seen[0].error)
    assert "secret" not in everything and "Bearer" not in everything


def test_broken_hook_does_not_break_the_call() -> None:
    def hook(exchange: Exchange) -> None:
        raise RuntimeError("observer bug")

    xero, _ = client(lambda s: (200, {"Items": []}, {}), on_exchange=hook)
    assert xero.get_all("Items") == []
