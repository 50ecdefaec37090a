"""The client within Xero's other limits: request size (batches cut by encoded size), the
app-wide minute budget shared by every organisation, a daily 429 ending the day, and the bytes
each call put on the wire (compressed, when Xero gzips)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
import requests

from tests.xero.fakes import FakeSession, Sent
from xerosync.xero import codec
from xerosync.xero.budget import BudgetLimits, RateBudget, app_limits
from xerosync.xero.client import Exchange, RequestTooLarge, XeroClient
from xerosync.xero.errors import BudgetExhausted, RateLimited

API = "http://xero.test/api.xro/2.0"
HEADERS = {
    "X-MinLimit-Remaining": "50",
    "X-DayLimit-Remaining": "4000",
    "X-AppMinLimit-Remaining": "9000",
}


class Tokens:
    def access_token(self) -> str:
        return "tok"

    def after_unauthorized(self, rejected_access_token: str) -> str:
        return "tok2"


class SizedSession(FakeSession):
    """A fake session that also keeps the exact bytes of every body sent."""

    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self.bodies: list[bytes] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("data") is not None:
            self.bodies.append(kwargs["data"])
        return super().request(method, url, **kwargs)


def echo(sent: Sent) -> tuple[int, Any, dict[str, str]]:
    """Xero's answer to a batch with summarizeErrors=false: every element, saved."""
    if sent.body is None:
        return 200, {"Currencies": [{"Code": "NZD"}]}, HEADERS
    (resource,) = sent.body
    saved = [{**e, "StatusAttributeString": "OK"} for e in sent.body[resource]]
    return 200, {resource: saved}, HEADERS


def client(session: requests.Session, **kwargs: Any) -> XeroClient:
    return XeroClient(api_url=API, tenant_id="t1", tokens=Tokens(), session=session, **kwargs)


def contacts(n: int, size: int) -> list[dict[str, Any]]:
    return [{"Name": f"Customer {i}", "Notes": "x" * size} for i in range(n)]


# -- request size ---------------------------------------------------------------------------
def test_batches_are_cut_by_size_as_well_as_count() -> None:
    session = SizedSession(echo)
    xero = client(session, budget=None, max_request_bytes=2_000)
    elements = contacts(30, 300)
    results = xero.save("Contacts", elements)

    assert [r.index for r in results] == list(range(30)) and all(r.ok for r in results)
    assert [r.input["Name"] for r in results] == [e["Name"] for e in elements]
    sent = [json.loads(b)["Contacts"] for b in session.bodies]
    assert [e["Name"] for batch in sent for e in batch] == [e["Name"] for e in elements]
    assert all(len(b) <= 2_000 for b in session.bodies)
    # Each batch is as full as the limit allows: one more element would not have fitted.
    for body, following in zip(session.bodies, sent[1:], strict=False):
        grown = json.loads(body)["Contacts"] + following[:1]
        assert len(codec.dumps({"Contacts": grown}).encode()) > 2_000
    assert len(sent) > 1


def test_the_count_still_limits_small_elements() -> None:
    session = SizedSession(echo)
    client(session, budget=None).save("Items", [{"Code": f"I{i}"} for i in range(120)])
    assert [len(json.loads(b)["Items"]) for b in session.bodies] == [50, 50, 20]


def test_the_same_elements_make_the_same_batches_and_keys() -> None:
    session = SizedSession(echo)
    xero = client(session, budget=None, max_request_bytes=2_000)
    xero.save("Contacts", contacts(12, 300))
    xero.save("Contacts", contacts(12, 300))
    keys = [s.headers["Idempotency-Key"] for s in session.sent]
    half = len(keys) // 2
    assert keys[:half] == keys[half:] and len(set(keys[:half])) == half


def test_an_element_too_large_alone_is_an_error_naming_it_and_is_not_sent() -> None:
    session = SizedSession(echo)
    xero = client(session, budget=None, max_request_bytes=2_000)
    elements = contacts(3, 100)
    elements[1] = {"Name": "Huge Ltd", "Notes": "y" * 5_000}
    results = xero.save("Contacts", elements)

    assert [r.status for r in results] == ["OK", "ERROR", "OK"]
    huge = results[1]
    assert huge.index == 1 and huge.input is elements[1] and huge.id is None
    assert "'Huge Ltd'" in huge.errors[0] and "2,000 bytes" in huge.errors[0]
    names = [e["Name"] for b in session.bodies for e in json.loads(b)["Contacts"]]
    assert names == ["Customer 0", "Customer 2"]


def test_a_request_over_the_limit_is_refused_before_anything_is_spent(
    real_redis: redis.Redis,
) -> None:
    session = SizedSession(echo)
    budget = RateBudget(real_redis, BudgetLimits())
    xero = client(session, budget=budget, max_request_bytes=1_000)
    with pytest.raises(RequestTooLarge) as info:
        xero.request("POST", "Contacts", json_body={"Contacts": contacts(1, 2_000)})
    assert info.value.retryable is False and info.value.size > 1_000
    assert session.sent == [] and budget.snapshot("t1")["permits_total"] == 0


# -- the app's minute -----------------------------------------------------------------------
def app_clients(
    real_redis: redis.Redis, handler: Any, minute: int = 10
) -> tuple[list[XeroClient], RateBudget, RateBudget]:
    orgs = RateBudget(real_redis, BudgetLimits(invoice_share=0.0))
    app = RateBudget(real_redis, app_limits(minute), prefix="test:app")
    clients = [
        XeroClient(
            api_url=API,
            tenant_id=tenant,
            tokens=Tokens(),
            budget=orgs,
            app_budget=app,
            app_key="client-id",
            session=FakeSession(handler),
        )
        for tenant in ("t1", "t2", "t3")
    ]
    return clients, orgs, app


def test_every_organisation_takes_from_the_apps_minute(real_redis: redis.Redis) -> None:
    clients, orgs, app = app_clients(real_redis, echo)
    made = 0
    with pytest.raises(BudgetExhausted) as info:
        while True:
            clients[made % 3].get_all("Currencies")
            made += 1
    assert made == 10 - 2 - 1  # the app's minute, less the invoices' reserve and the margin
    assert info.value.dimension == "appminute"
    # The refused call gave its organisation's permit back: nothing counted, nothing held.
    assert sum(orgs.snapshot(t)["minute_used"] for t in ("t1", "t2", "t3")) == made
    assert all(orgs.snapshot(t)["in_flight"] == 0 for t in ("t1", "t2", "t3"))
    # Invoices still get the app's reserve, from any organisation.
    for xero in clients[:2]:
        xero.get_all("Currencies", priority="invoice")
    assert app.snapshot("client-id")["minute_used"] == made + 2


def test_the_apps_header_is_mirrored(real_redis: redis.Redis) -> None:
    left = iter(range(4, -1, -1))  # Xero's count of the app's minute, ours among it

    def answer(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        return 200, {"Currencies": []}, {**HEADERS, "X-AppMinLimit-Remaining": str(next(left))}

    clients, _, app = app_clients(real_redis, answer, minute=100)
    clients[0].get_all("Currencies")  # other deployments of the app used 95 this minute
    assert app.snapshot("client-id")["xero_minute_remaining"] == 4
    # 4 left: the invoices' reserve (20) is not there for routine work; invoices get 4 - 1.
    with pytest.raises(BudgetExhausted):
        clients[1].get_all("Currencies")
    for _ in range(3):
        clients[2].get_all("Currencies", priority="invoice")
    with pytest.raises(BudgetExhausted):
        clients[2].get_all("Currencies", priority="invoice")


def test_an_app_minute_429_closes_the_apps_budget_not_the_organisations(
    real_redis: redis.Redis,
) -> None:
    def answer(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        return 429, "", {**HEADERS, "X-Rate-Limit-Problem": "appminute", "Retry-After": "30"}

    clients, orgs, app = app_clients(real_redis, answer)
    with pytest.raises(RateLimited) as info:
        clients[0].get_all("Currencies")
    assert info.value.limit == "appminute"
    assert orgs.snapshot("t1")["closed_for"] == 0
    assert 29 < app.snapshot("client-id")["closed_for"] <= 30
    with pytest.raises(BudgetExhausted) as refused:
        clients[1].get_all("Currencies", priority="invoice")
    assert refused.value.dimension == "appminute"


def test_a_daily_429_tells_the_budget_when_the_day_resets(real_redis: redis.Redis) -> None:
    def answer(sent: Sent) -> tuple[int, Any, dict[str, str]]:
        headers = {**HEADERS, "X-DayLimit-Remaining": "0"}
        return 429, "", {**headers, "X-Rate-Limit-Problem": "day", "Retry-After": "5000"}

    budget = RateBudget(real_redis, BudgetLimits())
    xero = client(FakeSession(answer), budget=budget)
    with pytest.raises(RateLimited):
        xero.get_all("Currencies")
    left = budget.day_left("t1")
    assert left.resets_in is not None and 4990 < left.resets_in <= 5000
    assert left.limit == 1  # 0 left after our one call: today, that is all there was
    assert left.routine_left == 0 and left.invoice_left == 0


# -- bytes on the wire ----------------------------------------------------------------------
def test_exchanges_carry_the_bytes_sent_and_received() -> None:
    seen: list[Exchange] = []
    xero = client(FakeSession(echo), budget=None, on_exchange=seen.append)
    xero.save("Items", [{"Code": "A"}])
    xero.get_all("Currencies")
    write, read = seen
    body = codec.dumps({"Items": [{"Code": "A"}]}).encode()
    assert write.bytes_sent == len(body) and write.bytes_received > 0
    assert read.bytes_sent == 0
    assert read.bytes_received == len(json.dumps({"Currencies": [{"Code": "NZD"}]}).encode())


class _Gzipping(BaseHTTPRequestHandler):
    payload = json.dumps(
        {"Currencies": [{"Code": f"C{i}", "Description": "x" * 50} for i in range(200)]}
    ).encode()

    def do_GET(self) -> None:
        packed = gzip.compress(self.payload)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        if "chunked" in self.path:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(packed), 100):
                piece = packed[start : start + 100]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gzip_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gzipping)
    server.protocol_version = "HTTP/1.1"
    _Gzipping.protocol_version = "HTTP/1.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api.xro/2.0"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("resource", ["Currencies", "Currencies/chunked"])
def test_a_gzipped_answer_counts_its_compressed_size(gzip_server: str, resource: str) -> None:
    seen: list[Exchange] = []
    xero = XeroClient(
        api_url=gzip_server, tenant_id="t1", tokens=Tokens(), budget=None, on_exchange=seen.append
    )
    body = xero.request("GET", resource).body
    assert len(body["Currencies"]) == 200
    packed = len(gzip.compress(_Gzipping.payload))
    assert seen[0].bytes_received == packed < len(_Gzipping.payload) / 5
