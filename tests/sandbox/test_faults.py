"""Fault injection: error, slow, drop (nothing applied), lost_response (applied, no answer)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.fixtures.sandbox import Sandbox


def _put_contact(sandbox: Sandbox, name: str, timeout: float = 10) -> requests.Response:
    return requests.put(
        sandbox.api_url + "/Contacts",
        json={"Contacts": [{"Name": name}]},
        headers=sandbox.headers(),
        timeout=timeout,
    )


def _names(sandbox: Sandbox) -> list[str]:
    return [c["Name"] for c in sandbox.control.records("Contacts")]


def test_error_fault_is_not_applied(sandbox: Sandbox) -> None:
    sandbox.headers()
    sandbox.control.add_fault("error", status=503, method="PUT", path="/api.xro/2.0/Contacts")
    response = _put_contact(sandbox, "Faulted Co")
    assert response.status_code == 503
    assert "Faulted Co" not in _names(sandbox)
    assert _put_contact(sandbox, "Faulted Co").status_code == 200  # only the next 1
    log = sandbox.control.requests(path="/api.xro/2.0/Contacts")
    assert [r["fault"] for r in log] == ["error", None]


def test_drop_closes_without_applying(sandbox: Sandbox) -> None:
    sandbox.headers()
    sandbox.control.add_fault("drop", method="PUT")
    with pytest.raises(requests.ConnectionError):
        _put_contact(sandbox, "Dropped Co")
    assert "Dropped Co" not in _names(sandbox)


def test_lost_response_is_applied(sandbox: Sandbox) -> None:
    sandbox.headers()
    sandbox.control.add_fault("lost_response", method="PUT")
    with pytest.raises(requests.ConnectionError):
        _put_contact(sandbox, "Lost Co")
    assert "Lost Co" in _names(sandbox)


def test_slow_fault_times_out_the_client_then_applies(sandbox: Sandbox) -> None:
    sandbox.headers()
    sandbox.control.add_fault("slow", seconds=1.0, method="PUT")
    with pytest.raises(requests.Timeout):
        _put_contact(sandbox, "Slow Co", timeout=0.3)
    deadline = time.monotonic() + 5
    while "Slow Co" not in _names(sandbox) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Slow Co" in _names(sandbox)


def test_lost_refresh_response_then_grace_retry(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize()
    assert tokens.refresh_token
    sandbox.control.add_fault("lost_response", path="/connect/token")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            sandbox.url + "/connect/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
            auth=("sandbox-client", "sandbox-secret"),
            timeout=10,
        )
    assert sandbox.control.refresh(tokens.refresh_token).access_token
    log = sandbox.control.requests(path="/connect/token")
    assert [r["grant_type"] for r in log][-2:] == ["refresh_token", "refresh_token"]
    assert log[-2]["fault"] == "lost_response"


def test_faults_list_and_clear(sandbox: Sandbox) -> None:
    sandbox.control.add_fault("error", count=3, status=500)
    assert sandbox.control.faults()[0]["count"] == 3
    sandbox.control.clear_faults()
    assert sandbox.control.faults() == []


def test_outage_fails_every_matching_request_until_its_time_passes(sandbox: Sandbox) -> None:
    sandbox.headers()
    [armed] = sandbox.control.outage(1.0, status=503)
    assert armed["for_seconds"] == 1.0 and 0 < armed["seconds_left"] <= 1.0
    ends = time.monotonic() + 1.0
    statuses = []
    while time.monotonic() < ends - 0.2:
        statuses.append(_put_contact(sandbox, f"Outage Co {len(statuses)}").status_code)
    assert len(statuses) >= 3 and set(statuses) == {503}
    assert not any(n.startswith("Outage Co") for n in _names(sandbox))
    # Faults on other paths are not touched; the outage is not used up by its requests.
    assert [f["kind"] for f in sandbox.control.faults()] == ["error"]
    time.sleep(max(0.0, ends - time.monotonic()) + 0.05)
    assert sandbox.control.faults() == []
    assert _put_contact(sandbox, "After Outage Co").status_code == 200


def test_outage_ends_early_when_faults_are_cleared(sandbox: Sandbox) -> None:
    sandbox.headers()
    sandbox.control.outage(60, path="/api.xro/2.0/Contacts")
    assert _put_contact(sandbox, "Down Co").status_code == 503
    sandbox.control.clear_faults()
    assert _put_contact(sandbox, "Up Co").status_code == 200


def test_outage_needs_a_positive_duration(sandbox: Sandbox) -> None:
    with pytest.raises(RuntimeError, match="for_seconds"):
        sandbox.control.outage(0)
