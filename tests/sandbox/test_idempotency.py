"""Idempotency-Key: replay within the window (errors too), mismatch 400, expiry, length."""

from __future__ import annotations

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero


def _create(xero: Xero, key: str, name: str = "Idem Co") -> dict:
    response = xero.put(
        "/Contacts", {"Contacts": [{"Name": name}]}, headers={"Idempotency-Key": key}
    )
    return {"status": response.status_code, "body": response.json()}


def test_replay_returns_the_original_without_a_second_write(xero: Xero, sandbox: Sandbox) -> None:
    first = _create(xero, "key-1")
    second = _create(xero, "key-1")
    assert first["status"] == second["status"] == 200
    assert first["body"]["Contacts"][0]["ContactID"] == second["body"]["Contacts"][0]["ContactID"]
    assert [c["Name"] for c in sandbox.control.records("Contacts")].count("Idem Co") == 1
    log = sandbox.control.requests(path="/api.xro/2.0/Contacts", method="PUT")
    assert [r["replayed"] for r in log] == [False, True]
    assert log[1]["idempotency_key"] == "key-1"


def test_errors_are_replayed_too(xero: Xero, sandbox: Sandbox) -> None:
    assert _create(xero, "key-err", "Boom FM")["status"] == 400
    # even if the conflict goes away, the cached error comes back
    boom = next(c for c in sandbox.control.records("Contacts") if c["Name"] == "Boom FM")
    sandbox.control.edit("Contacts", boom["ContactID"], {"Name": "Boom FM Renamed"})
    assert _create(xero, "key-err", "Boom FM")["status"] == 400


def test_same_key_different_request_is_400(xero: Xero) -> None:
    assert _create(xero, "key-2", "One")["status"] == 200
    response = xero.put(
        "/Contacts", {"Contacts": [{"Name": "Two"}]}, headers={"Idempotency-Key": "key-2"}
    )
    assert response.status_code == 400
    message = response.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    assert message == "The Idempotency-Key key-2 is used with a different request."


def test_after_the_window_it_is_a_new_request(xero: Xero, sandbox: Sandbox) -> None:
    _create(xero, "key-3", "Window Co")
    sandbox.control.advance_clock(361)
    again = _create(xero, "key-3", "Window Co")
    assert again["status"] == 400  # a real second attempt: the name now exists
    assert "already assigned" in again["body"]["Elements"][0]["ValidationErrors"][0]["Message"]


def test_key_longer_than_128_is_rejected(xero: Xero) -> None:
    assert _create(xero, "k" * 129)["status"] == 400
    assert _create(xero, "k" * 128)["status"] == 200
