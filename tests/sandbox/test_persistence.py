"""`--state FILE` (issue 14): the whole sandbox survives a restart, the file is replaced
atomically, a damaged file is one line naming it, and SIGTERM (`make run` stopping) saves."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from xerosync.cli import main
from xerosync.sandbox import API_PREFIX, persistence
from xerosync.sandbox.control import SandboxControl, api_headers
from xerosync.sandbox.persistence import StateFileError
from xerosync.sandbox.server import start_in_thread


def call(url: str, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
    response = requests.request(method, url + API_PREFIX + path, headers=headers, timeout=10, **kw)
    assert response.status_code == 200, response.text
    return response


def test_the_whole_state_survives_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "var" / "sandbox.state"
    with start_in_thread(state_file=state_file, tier="starter") as first:
        control = SandboxControl(first.url)
        other = control.add_tenant("Second Org")
        tokens = control.authorize()
        headers = api_headers(tokens)
        contact = call(
            first.url, "PUT", "/Contacts", headers, json={"Contacts": [{"Name": "Kept Co"}]}
        ).json()["Contacts"][0]
        call(first.url, "PUT", "/Items", headers, json={"Items": [{"Code": "KEPT", "Name": "K"}]})
        line = {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}
        doc = {"Type": "ACCREC", "Contact": {"ContactID": contact["ContactID"]}}
        keyed = {**headers, "Idempotency-Key": "kept-key"}
        invoice = call(
            first.url, "PUT", "/Invoices", keyed, json={"Invoices": [{**doc, "LineItems": [line]}]}
        ).json()["Invoices"][0]
        credit = {**doc, "Type": "ACCRECCREDIT", "LineItems": [line]}
        call(first.url, "PUT", "/CreditNotes", headers, json={"CreditNotes": [credit]})
        control.advance_clock(120)
        connections = requests.get(first.url + "/connections", headers=tokens.bearer, timeout=10)
    assert state_file.is_file()

    with start_in_thread(state_file=state_file) as second:
        control = SandboxControl(second.url)
        assert {t["tenantId"] for t in control.tenants()} >= {other}
        assert "Kept Co" in [c["Name"] for c in control.records("Contacts")]
        assert "KEPT" in [i["Code"] for i in control.records("Items")]
        numbers = [i.get("InvoiceNumber") for i in control.records("Invoices")]
        assert invoice["InvoiceNumber"] in numbers
        assert any(c["Type"] == "ACCRECCREDIT" for c in control.records("CreditNotes"))
        assert control.config()["tier"] == "starter" and control.config()["day_limit"] == 1000
        # the access token issued before the restart still works, with its connections
        again = requests.get(second.url + "/connections", headers=tokens.bearer, timeout=10)
        assert again.json() == connections.json()
        # the idempotency record too: the same request replays, no second invoice
        replay = call(
            second.url, "PUT", "/Invoices", keyed, json={"Invoices": [{**doc, "LineItems": [line]}]}
        )
        assert replay.json()["Invoices"][0]["InvoiceID"] == invoice["InvoiceID"]
        assert len(control.records("Invoices")) == len(numbers)
        assert control.refresh(tokens.refresh_token).access_token


def test_the_file_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state_file = tmp_path / "sandbox.state"
    with start_in_thread(state_file=state_file) as running:
        first_inode = state_file.stat().st_ino
        persistence.save(running.state, state_file)
        assert state_file.stat().st_ino != first_inode  # a new file renamed over the old
        before = state_file.read_bytes()

        def crash(_fd: int) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "fsync", crash)
        running.state.dirty = True
        with pytest.raises(OSError, match="disk full"):
            persistence.save(running.state, state_file)
        assert state_file.read_bytes() == before  # the old state is whole
        monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox.state"]  # no temp files left


@pytest.mark.parametrize(
    "content", [b"", b"not a pickle at all", pickle.dumps({"hello": "world"})[:-3], b"\x80\x05K"]
)
def test_a_damaged_file_is_one_line_naming_it(tmp_path: Path, content: bytes) -> None:
    state_file = tmp_path / "sandbox.state"
    state_file.write_bytes(content)
    with pytest.raises(StateFileError) as info:
        start_in_thread(state_file=state_file)
    message = str(info.value)
    assert str(state_file) in message and "\n" not in message


def test_a_state_of_another_shape_or_version_is_refused(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.state"
    state_file.write_bytes(pickle.dumps({"hello": "world"}))
    with pytest.raises(StateFileError, match="not a sandbox state file"):
        start_in_thread(state_file=state_file)
    keys = ("tenants", "identity", "config", "clock_offset", "idempotency")
    state_file.write_bytes(pickle.dumps({"version": 99, **dict.fromkeys(keys)}))
    with pytest.raises(StateFileError, match="version 99"):
        start_in_thread(state_file=state_file)


def test_the_command_prints_one_line_for_a_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_file = tmp_path / "sandbox.state"
    state_file.write_bytes(b"garbage")
    code = main(["sandbox", "--port", "0", "--state", str(state_file)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1 and str(state_file) in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_saves_the_last_changes(tmp_path: Path) -> None:
    """`make run` stops the sandbox with SIGTERM; what it took just before is kept."""
    state_file = tmp_path / "sandbox.state"
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from xerosync.cli import main; sys.exit(main())",
            "sandbox",
            "--port",
            str(port),
            "--state",
            str(state_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(url + "/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        headers = api_headers(SandboxControl(url).authorize())
        call(url, "PUT", "/Contacts", headers, json={"Contacts": [{"Name": "Last Word"}]})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    with start_in_thread(state_file=state_file) as again:
        assert "Last Word" in [c["Name"] for c in SandboxControl(again.url).records("Contacts")]
