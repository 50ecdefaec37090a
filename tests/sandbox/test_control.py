"""Control endpoints, bulk data, persistence across restarts, and the CLI registration."""

from __future__ import annotations

import argparse
from pathlib import Path

import requests

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sandbox.control import SandboxControl, api_headers
from xerosync.sandbox.server import start_in_thread


def test_reset_restores_seed_config_and_clock(sandbox: Sandbox) -> None:
    control = sandbox.control
    control.config(minute_limit=1)
    control.advance_clock(1000)
    control.add_fault("error")
    control.reset("empty")
    assert control.config()["minute_limit"] == 60
    assert control.faults() == [] and control.requests() == []
    assert control.records("Contacts") == [] and control.records("Accounts")
    control.reset()
    assert any(c["Name"] == "Template Ledger" for c in control.records("Contacts"))


def test_request_log_fields(sandbox: Sandbox, xero: Xero) -> None:
    sandbox.control.clear_requests()
    xero.get("/Contacts", params={"where": 'Name=="Boom FM"'})
    (row,) = sandbox.control.requests(path="/api.xro/2.0/")
    assert row["method"] == "GET" and row["path"] == "/api.xro/2.0/Contacts"
    assert row["query"] == {"where": ['Name=="Boom FM"']} and row["status"] == 200
    assert row["tenant_id"] == DEMO_TENANT_ID and row["replayed"] is False
    assert {"seq", "at", "grant_type", "idempotency_key", "fault"} <= set(row)


def test_ui_edit_bypasses_read_only_rules(sandbox: Sandbox, xero: Xero) -> None:
    boom = contact_id(sandbox, "Boom FM")
    sandbox.control.edit(
        "Contacts",
        boom,
        {"Discount": 12.5, "PaymentTerms": {"Sales": {"Day": 7, "Type": "DAYSAFTERBILLDATE"}}},
    )
    contact = xero.get(f"/Contacts/{boom}").json()["Contacts"][0]
    assert contact["Discount"] == 12.5 and contact["PaymentTerms"]["Sales"]["Day"] == 7
    draft = next(
        i
        for i in sandbox.control.records("Invoices")
        if i["Status"] == "AUTHORISED" and i["Type"] == "ACCREC"
    )
    paid = sandbox.control.edit("Invoices", draft["InvoiceID"], {"Status": "PAID"})
    assert paid["AmountDue"] == 0 and paid["AmountPaid"] == paid["Total"]


def test_bulk_invoices_page_fast_enough_to_test(sandbox: Sandbox, xero: Xero) -> None:
    created = sandbox.control.bulk(Contacts=50, Invoices=3000, CreditNotes=100, Items=10)
    assert created == {"Contacts": 50, "Invoices": 3000, "CreditNotes": 100, "Items": 10}
    first = xero.get(
        "/Invoices",
        params={
            "page": 1,
            "pageSize": 1000,
            "where": 'Type=="ACCREC"',
            "order": "UpdatedDateUTC ASC",
        },
    ).json()
    assert len(first["Invoices"]) == 1000 and all(i["LineItems"] for i in first["Invoices"])
    total = first["pagination"]["itemCount"]
    assert 2500 < total < 3100
    seen = {i["InvoiceID"] for i in first["Invoices"]}
    for page in range(2, first["pagination"]["pageCount"] + 1):
        body = xero.get(
            "/Invoices",
            params={
                "page": page,
                "pageSize": 1000,
                "where": 'Type=="ACCREC"',
                "order": "UpdatedDateUTC ASC",
            },
        ).json()
        seen |= {i["InvoiceID"] for i in body["Invoices"]}
    assert len(seen) == total


def test_state_file_survives_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.state"
    first = start_in_thread(state_file=state_file)
    try:
        control = SandboxControl(first.url)
        tokens = control.authorize()
        response = requests.put(
            first.url + "/api.xro/2.0/Contacts",
            json={"Contacts": [{"Name": "Persisted Co"}]},
            headers=api_headers(tokens),
            timeout=10,
        )
        assert response.status_code == 200
    finally:
        first.stop()
    assert state_file.is_file()
    second = start_in_thread(state_file=state_file)
    try:
        names = [c["Name"] for c in SandboxControl(second.url).records("Contacts")]
        assert "Persisted Co" in names
        # the refresh token issued before the restart still works
        assert tokens.refresh_token
        assert SandboxControl(second.url).refresh(tokens.refresh_token).access_token
    finally:
        second.stop()


def test_cli_registers_sandbox_command() -> None:
    from xerosync.sandbox import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sandbox", "--port", "9999", "--state", "x.state"])
    assert args.port == 9999 and args.state == "x.state" and args.handler is cli.run


def test_unknown_config_key_is_rejected(sandbox: Sandbox) -> None:
    response = requests.post(sandbox.url + "/_sandbox/config", json={"minute_limt": 5}, timeout=10)
    assert response.status_code == 400 and "unknown config key" in response.json()["error"]
