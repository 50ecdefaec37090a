"""Xero's two read economies as the sandbox models them: gzip for a client that asks for it,
and `summaryOnly=true` on Contacts and Invoices lists (what it keeps and what it drops)."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
import requests
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id
from xerosync.sandbox.compression import accepts_gzip


@pytest.fixture
def sdk(sandbox: Sandbox) -> AccountingApi:
    tokens = sandbox.control.authorize()
    stored: dict[str, Any] = {**tokens.raw, "expires_at": time.time() + tokens.expires_in}
    client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(client_id="sandbox-client", client_secret="s")),
        pool_threads=1,
    )
    client.oauth2_token_getter(lambda: stored)
    client.oauth2_token_saver(lambda token: stored.update(token))
    return AccountingApi(client, base_url=sandbox.api_url)


def last_logged(sandbox: Sandbox, path: str) -> dict[str, Any]:
    return sandbox.control.requests(path=f"/api.xro/2.0/{path}")[-1]


# -- gzip -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip, deflate", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*, gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("deflate, x-gzip", True),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(header: str, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_a_large_body_is_gzipped_for_a_client_that_asks(xero: Xero, sandbox: Sandbox) -> None:
    response = xero.get("/Contacts", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    wire = last_logged(sandbox, "Contacts")["bytes"]
    assert wire == int(response.headers["Content-Length"]) and wire < len(response.content) / 2
    raw = requests.get(
        sandbox.api_url + "/Contacts",
        headers={**sandbox.headers(), "Accept-Encoding": "gzip"},
        stream=True,
        timeout=10,
    )
    unzipped = json.loads(gzip.decompress(raw.raw.read()))  # really gzip on the wire
    assert unzipped["Contacts"] == response.json()["Contacts"]

    plain = xero.get("/Contacts", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert last_logged(sandbox, "Contacts")["bytes"] == len(plain.content)
    assert plain.json()["Contacts"] == response.json()["Contacts"]


def test_a_small_body_and_a_disabled_threshold_stay_plain(xero: Xero, sandbox: Sandbox) -> None:
    small = xero.get("/Currencies", headers={"Accept-Encoding": "gzip"})
    assert len(small.content) < 1024 and "Content-Encoding" not in small.headers
    sandbox.control.config(gzip_min_bytes=0)
    big = xero.get("/Contacts", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in big.headers


def test_the_sdk_asks_for_no_encoding_and_gets_plain_bodies(
    sdk: AccountingApi, sandbox: Sandbox
) -> None:
    _data, status, headers = sdk.get_contacts(sandbox.tenant_id, _return_http_data_only=False)
    assert status == 200 and "Content-Encoding" not in headers


# -- summaryOnly ------------------------------------------------------------------------------
KEPT = {"ContactID", "Name", "EmailAddress", "ContactStatus", "UpdatedDateUTC"}
DROPPED = {"Addresses", "Phones", "TaxNumber", "PaymentTerms", "Balances", "ContactPersons"}


def test_summary_only_contacts_keep_the_light_fields(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    sandbox.control.edit(
        "Contacts",
        boom,
        {"BankAccountDetails": "01-0123-0123456-00", "SalesDefaultLineAmountType": "EXCLUSIVE"},
    )
    full = next(c for c in xero.get("/Contacts").json()["Contacts"] if c["ContactID"] == boom)
    assert DROPPED & set(full)
    rows = xero.get("/Contacts", params={"summaryOnly": "true"}).json()["Contacts"]
    summary = next(c for c in rows if c["ContactID"] == boom)
    assert set(summary) >= KEPT and not DROPPED & set(summary)
    assert summary["BankAccountDetails"] == "01-0123-0123456-00"
    assert summary["SalesDefaultLineAmountType"] == "EXCLUSIVE"
    assert len(xero.get("/Contacts", params={"summaryOnly": "true"}).content) < len(
        xero.get("/Contacts").content
    )


def test_summary_only_through_the_sdk(sdk: AccountingApi, sandbox: Sandbox) -> None:
    contacts = sdk.get_contacts(sandbox.tenant_id, summary_only=True).contacts
    assert contacts and all(c.addresses is None and c.phones is None for c in contacts)
    invoices = sdk.get_invoices(sandbox.tenant_id, page=1, summary_only=True).invoices
    assert invoices and all(i.line_items is None for i in invoices)
    assert all(i.total is not None and i.contact.contact_id for i in invoices)


def test_summary_only_invoices_drop_lines_even_when_paged(xero: Xero) -> None:
    paged = xero.get("/Invoices", params={"page": 1}).json()["Invoices"]
    assert all(i["LineItems"] for i in paged)
    summary = xero.get("/Invoices", params={"page": 1, "summaryOnly": "true"}).json()
    rows = summary["Invoices"]
    assert summary["pagination"]["itemCount"] == len(paged)
    assert rows and all("LineItems" not in i and "Payments" not in i for i in rows)
    assert all({"InvoiceID", "Total", "AmountDue", "Status", "Contact"} <= set(i) for i in rows)


def test_credit_notes_have_no_summary_only(xero: Xero) -> None:
    """The spec gives CreditNotes no summaryOnly (XERO_FACTS §12): the flag changes nothing."""
    rows = xero.get("/CreditNotes", params={"page": 1, "summaryOnly": "true"}).json()
    assert all(c["LineItems"] for c in rows["CreditNotes"])
