"""The sandbox sends webhooks as Xero does: signed batches of the events its own changes cause
(API writes and control edits), intent-to-receive first, retries with back-off, the webhook
disabled after the give-up horizon, and replay/drop/pause for tests.

Each test runs a sandbox of its own (webhook settings outlive a reset) and a receiver in a
thread: xerosync's own `Receiver` (the real signature check) in front of a recorder that can
be told to fail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, make_server

from tests.fixtures.waiting import eventually
from xerosync.sandbox import API_PREFIX, DEMO_TENANT_ID, WEBHOOK_KEY
from xerosync.sandbox.control import SandboxControl, api_headers
from xerosync.sandbox.server import RunningSandbox, start_in_thread
from xerosync.webhooks.receiver import Receiver
from xerosync.webhooks.signature import is_valid

FAST = {"time_scale": 0.001, "batch_seconds": 50.0}
"""Xero's waits shrunk a thousandfold: a 50 s batch window is 50 ms, a 10 s retry 10 ms."""


@dataclass
class Recorder:
    """What reached the receiver; `answer` forces a status (None: the real receiver's)."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    answer: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for body in self.bodies for e in body["events"]]

    def deliveries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.bodies if b["events"]]


@dataclass
class World:
    sandbox: RunningSandbox
    control: SandboxControl
    recorder: Recorder
    url: str

    def api(self, method: str, path: str, body: Any) -> dict[str, Any]:
        headers = api_headers(self.control.authorize(), DEMO_TENANT_ID)
        response = requests.request(
            method, f"{self.sandbox.url}{API_PREFIX}{path}", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


def _app(recorder: Recorder) -> Any:
    receiver = Receiver(WEBHOOK_KEY, lambda tenant, events, at: None)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        ok = is_valid(body, environ.get("HTTP_X_XERO_SIGNATURE"), WEBHOOK_KEY)
        with recorder.lock:
            if recorder.answer is not None:
                start_response(recorder.answer, [("Content-Length", "0")])
                return [b""]
            if ok:
                recorder.bodies.append(json.loads(body))
            recorder.signatures_ok.append(ok)
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        return receiver(environ, start_response)

    return app


@pytest.fixture
def world() -> Iterator[World]:
    recorder = Recorder()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _app(recorder), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sandbox = start_in_thread("127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.port}/webhooks/xero"
    try:
        yield World(sandbox, SandboxControl(sandbox.url), recorder, url)
    finally:
        sandbox.stop()
        server.shutdown()
        server.server_close()


def subscribe(world: World, **values: Any) -> dict[str, Any]:
    status = world.control.webhooks(url=world.url, **{**FAST, **values})
    eventually(lambda: world.control.webhooks()["verified"], timeout=10)
    return status


def contact(world: World) -> dict[str, Any]:
    return next(c for c in world.control.records("Contacts") if c["ContactStatus"] == "ACTIVE")


def test_no_subscription_no_events_and_the_seed_causes_none(world: World) -> None:
    world.control.edit("Contacts", contact(world)["ContactID"], {"Name": "Unheard"})
    status = world.control.webhooks()
    assert status["url"] is None and status["pending"] == 0 and status["last_sequence"] == 0
    subscribe(world)
    world.control.reset("demo")  # a fresh seed: no events for the records it makes
    world.control.deliver_webhooks()
    assert world.control.webhooks()["last_sequence"] == 0
    assert world.recorder.events() == []


def test_intent_to_receive_one_signed_one_wrongly_signed_then_the_webhook_is_verified(
    world: World,
) -> None:
    subscribe(world)
    assert world.recorder.bodies[0]["events"] == []
    assert world.recorder.signatures_ok[:2] == [True, False]
    attempt = world.control.webhooks()["attempts"][0]
    assert attempt["kind"] == "intent" and attempt["ok"] is True


def test_a_receiver_that_answers_everything_200_fails_the_check_and_gets_no_events(
    world: World,
) -> None:
    world.recorder.answer = "200 OK"  # does not check signatures
    world.control.webhooks(url=world.url, **FAST)
    world.control.edit("Contacts", contact(world)["ContactID"], {"Name": "Waits"})
    eventually(lambda: world.control.webhooks()["failures"] >= 2, timeout=10)
    status = world.control.webhooks()
    assert status["verified"] is False and status["pending"] == 1
    assert "200 for the signed, 200 for the wrongly signed" in status["attempts"][-1]["detail"]
    world.recorder.answer = None  # fixed: the next check passes and the event goes out
    eventually(lambda: world.recorder.events(), timeout=10)


def test_api_writes_and_control_edits_become_signed_events_in_one_batch(world: World) -> None:
    subscribe(world)
    world.control.webhooks(batch_seconds=1000.0)  # 1 s: the three changes share a delivery
    someone = contact(world)
    world.control.edit("Contacts", someone["ContactID"], {"Name": "Edited In The UI"})
    created = world.api("PUT", "/Contacts", {"Contacts": [{"Name": "Made By The API"}]})
    bill = world.api(
        "PUT",
        "/Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCPAY",
                    "Contact": {"ContactID": someone["ContactID"]},
                    "LineItems": [
                        {"Description": "Paper", "Quantity": 1, "UnitAmount": 10,
                         "AccountCode": "400", "TaxType": "INPUT"}
                    ],
                }
            ]
        },
    )  # fmt: skip
    [delivery] = eventually(lambda: world.recorder.deliveries(), timeout=10)
    events = delivery["events"]
    assert [(e["eventCategory"], e["eventType"]) for e in events] == [
        ("CONTACT", "UPDATE"),
        ("CONTACT", "CREATE"),
        ("INVOICE", "CREATE"),  # a bill: Xero sends it too, without its type
    ]
    assert events[1]["resourceId"] == created["Contacts"][0]["ContactID"]
    assert events[2]["resourceId"] == bill["Invoices"][0]["InvoiceID"]
    assert "data" not in events[2]
    assert {e["tenantId"] for e in events} == {DEMO_TENANT_ID}
    assert {e["tenantType"] for e in events} == {"ORGANISATION"}
    assert events[0]["resourceUrl"].endswith(f"/Contacts/{someone['ContactID']}")
    assert (delivery["firstEventSequence"], delivery["lastEventSequence"]) == (1, 3)
    assert len(delivery["entropy"]) == 20
    assert all(world.recorder.signatures_ok[2:])  # each delivery passed the real Receiver


def test_a_credit_note_event_carries_its_type_and_status_and_items_cause_none(
    world: World,
) -> None:
    subscribe(world)
    note = next(c for c in world.control.records("CreditNotes"))
    world.control.edit("CreditNotes", note["CreditNoteID"], {"Reference": "changed"})
    world.api("POST", "/Items", {"Items": [{"Code": "BOOK", "Name": "A renamed book"}]})
    world.control.deliver_webhooks()
    [event] = eventually(lambda: world.recorder.events(), timeout=10)
    assert event["eventCategory"] == "CREDITNOTE"
    assert event["data"] == {"Type": note["Type"], "Status": note["Status"]}
    assert world.control.webhooks()["last_sequence"] == 1  # the item: no event


def test_a_failing_receiver_is_retried_with_growing_waits_then_gets_the_same_events(
    world: World,
) -> None:
    subscribe(world)
    world.recorder.answer = "500 Internal Server Error"
    world.control.edit("Contacts", contact(world)["ContactID"], {"Name": "Retried"})
    eventually(lambda: world.control.webhooks()["failures"] >= 4, timeout=10)
    failed = [a for a in world.control.webhooks()["attempts"] if a["kind"] == "delivery"]
    assert [a["retry_in"] for a in failed[:4]] == [10.0, 20.0, 40.0, 80.0]  # Xero seconds
    assert all(not a["ok"] and a["sequences"] == [1] for a in failed)
    world.recorder.answer = None
    [event] = eventually(lambda: world.recorder.events(), timeout=10)
    assert event["eventCategory"] == "CONTACT"
    status = world.control.webhooks()
    assert status["pending"] == 0 and status["failures"] == 0 and status["delivered"] == 1


def test_past_the_give_up_horizon_the_webhook_is_disabled_and_keeps_its_events(
    world: World,
) -> None:
    subscribe(world, give_up_seconds=100.0)  # 0.1 s of wall time
    world.recorder.answer = "503 Service Unavailable"
    world.control.edit("Contacts", contact(world)["ContactID"], {"Name": "Kept"})
    eventually(lambda: world.control.webhooks()["enabled"] is False, timeout=10)
    status = world.control.webhooks()
    assert "disabled after" in status["disabled_reason"] and status["pending"] == 1
    world.recorder.answer = None
    world.control.webhooks(enabled=True)  # re-enabled: intent again, then the kept event
    [event] = eventually(lambda: world.recorder.events(), timeout=10)
    assert event["eventType"] == "UPDATE"


def test_replay_sends_delivered_events_again_in_the_order_asked_and_drop_lets_go(
    world: World,
) -> None:
    subscribe(world)
    first, second = [c for c in world.control.records("Contacts")][:2]
    world.control.edit("Contacts", first["ContactID"], {"Name": "One"})
    world.control.edit("Contacts", second["ContactID"], {"Name": "Two"})
    world.control.deliver_webhooks()
    eventually(lambda: len(world.recorder.events()) == 2, timeout=10)
    world.control.webhooks(paused=True)
    assert world.control.replay_webhooks([2, 1, 1]) == [2, 1, 1]
    assert [e["sequence"] for e in world.control.webhook_events("pending")] == [2, 1, 1]
    world.control.webhooks(paused=False)
    world.control.deliver_webhooks()
    eventually(lambda: len(world.recorder.events()) == 5, timeout=10)
    replayed = world.recorder.events()[2:]
    assert [e["resourceId"] for e in replayed] == [
        second["ContactID"], first["ContactID"], first["ContactID"]
    ]  # fmt: skip

    world.control.webhooks(paused=True)
    world.control.edit("Contacts", first["ContactID"], {"Name": "Never Sent"})
    assert world.control.drop_webhooks() == 1
    world.control.webhooks(paused=False)
    world.control.deliver_webhooks()
    assert world.control.webhook_events("pending") == []
    assert len(world.control.webhook_events("delivered")) == 5


def test_bad_webhook_settings_are_refused_naming_the_key(world: World) -> None:
    for bad in ({"retry_base_seconds": 0}, {"enabled": "yes"}, {"colour": "red"}):
        response = requests.post(f"{world.sandbox.url}/_sandbox/webhooks", json=bad, timeout=5)
        assert response.status_code == 400
        assert next(iter(bad)) in response.json()["error"]
