"""Reading: paging, line items, If-Modified-Since, includeArchived, order, where, filters."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import requests

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id


def test_page_size_default_100_and_capped_at_1000(xero: Xero, sandbox: Sandbox) -> None:
    sandbox.control.bulk(Contacts=1200)
    first = xero.get("/Contacts", params={"page": 1}).json()
    assert len(first["Contacts"]) == 100
    assert first["pagination"]["pageSize"] == 100
    big = xero.get("/Contacts", params={"page": 1, "pageSize": 5000}).json()
    assert len(big["Contacts"]) == 1000
    assert big["pagination"] == {
        "page": 1,
        "pageSize": 1000,
        "pageCount": 2,
        "itemCount": big["pagination"]["itemCount"],
    }
    second = xero.get("/Contacts", params={"page": 2, "pageSize": 1000}).json()
    assert len(second["Contacts"]) == big["pagination"]["itemCount"] - 1000
    beyond = xero.get("/Contacts", params={"page": 9, "pageSize": 1000}).json()
    assert beyond["Contacts"] == []


def test_line_items_only_on_paged_lists_and_single_gets(xero: Xero) -> None:
    unpaged = xero.get("/Invoices").json()["Invoices"]
    assert unpaged and all("LineItems" not in i for i in unpaged)
    assert "pagination" not in xero.get("/Invoices").json()
    paged = xero.get("/Invoices", params={"page": 1}).json()["Invoices"]
    assert all(i["LineItems"] for i in paged)
    summary = xero.get("/Invoices", params={"page": 1, "summaryOnly": "true"}).json()
    assert all("LineItems" not in i for i in summary["Invoices"])
    one = xero.get(f"/Invoices/{unpaged[0]['InvoiceID']}").json()["Invoices"][0]
    assert one["LineItems"]


def test_if_modified_since_to_the_second(xero: Xero, sandbox: Sandbox) -> None:
    sandbox.control.advance_clock(10)
    boom = contact_id(sandbox, "Boom FM")
    edited = sandbox.control.edit("Contacts", boom, {"Discount": 2.5})
    ms = int(edited["UpdatedDateUTC"][6:-7])
    since = datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=0)
    for header in (format_datetime(since, usegmt=True), since.strftime("%Y-%m-%dT%H:%M:%S")):
        rows = xero.get("/Contacts", headers={"If-Modified-Since": header}).json()["Contacts"]
        assert [r["Name"] for r in rows] == ["Boom FM"]
    later = since.replace(second=(since.second + 1) % 60) if since.second < 59 else since
    if later != since:
        rows = xero.get(
            "/Contacts", headers={"If-Modified-Since": later.strftime("%Y-%m-%dT%H:%M:%S")}
        ).json()["Contacts"]
        assert rows == []


def test_include_archived(xero: Xero) -> None:
    names = [c["Name"] for c in xero.get("/Contacts").json()["Contacts"]]
    assert "Bayside Club" not in names
    names = [
        c["Name"]
        for c in xero.get("/Contacts", params={"includeArchived": "true"}).json()["Contacts"]
    ]
    assert "Bayside Club" in names


def test_order_updated_asc_and_name_desc(xero: Xero, sandbox: Sandbox) -> None:
    sandbox.control.advance_clock(5)
    sandbox.control.edit("Contacts", contact_id(sandbox, "Boom FM"), {"Website": "x"})
    rows = xero.get("/Contacts", params={"order": "UpdatedDateUTC ASC", "page": 1}).json()[
        "Contacts"
    ]
    stamps = [int(r["UpdatedDateUTC"][6:-7]) for r in rows]
    assert stamps == sorted(stamps) and rows[-1]["Name"] == "Boom FM"
    rows = xero.get("/Contacts", params={"order": "Name DESC"}).json()["Contacts"]
    assert [r["Name"] for r in rows] == sorted(
        (r["Name"] for r in rows), key=str.lower, reverse=True
    )
    bad = xero.get("/Contacts", params={"order": "Nope ASC"})
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"


def test_where_filters_accrec_and_unknown_field_is_400(xero: Xero) -> None:
    rows = xero.get("/Invoices", params={"where": 'Type=="ACCREC"'}).json()["Invoices"]
    assert rows and {r["Type"] for r in rows} == {"ACCREC"}
    rows = xero.get("/CreditNotes", params={"where": 'Type=="ACCRECCREDIT"'}).json()["CreditNotes"]
    assert rows and {r["Type"] for r in rows} == {"ACCRECCREDIT"}
    bad = xero.get("/Invoices", params={"where": 'Colour=="red"'})
    assert bad.status_code == 400
    assert bad.json() == {
        "ErrorNumber": 16,
        "Type": "QueryParseException",
        "Message": "No property or field 'Colour' exists in type 'Invoice'",
    }


def test_invoice_filters(xero: Xero, sandbox: Sandbox) -> None:
    all_rows = xero.get("/Invoices").json()["Invoices"]
    accrec = [r for r in all_rows if r["Type"] == "ACCREC"]
    two = accrec[:2]
    rows = xero.get("/Invoices", params={"IDs": ",".join(r["InvoiceID"] for r in two)}).json()[
        "Invoices"
    ]
    assert {r["InvoiceID"] for r in rows} == {r["InvoiceID"] for r in two}
    rows = xero.get("/Invoices", params={"InvoiceNumbers": two[0]["InvoiceNumber"]}).json()[
        "Invoices"
    ]
    assert [r["InvoiceID"] for r in rows] == [two[0]["InvoiceID"]]
    boom = contact_id(sandbox, "Boom FM")
    rows = xero.get("/Invoices", params={"ContactIDs": boom}).json()["Invoices"]
    assert rows and {r["Contact"]["ContactID"] for r in rows} == {boom}
    rows = xero.get("/Invoices", params={"Statuses": "VOIDED,PAID"}).json()["Invoices"]
    assert {r["Status"] for r in rows} == {"VOIDED", "PAID"}
    assert xero.get("/Invoices", params={"createdByMyApp": "true"}).json()["Invoices"] == []
    xero.put(
        "/Invoices",
        {
            "Invoices": [
                {
                    "Type": "ACCREC",
                    "Contact": {"ContactID": boom},
                    "LineItems": [{"Description": "mine"}],
                }
            ]
        },
    )
    mine = xero.get("/Invoices", params={"createdByMyApp": "true"}).json()["Invoices"]
    assert len(mine) == 1


def test_contacts_ids_summary_only_search_term(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    rows = xero.get("/Contacts", params={"IDs": boom}).json()["Contacts"]
    assert [r["Name"] for r in rows] == ["Boom FM"]
    rows = xero.get("/Contacts", params={"summaryOnly": "true"}).json()["Contacts"]
    assert rows and all("Addresses" not in r and "PaymentTerms" not in r for r in rows)
    rows = xero.get("/Contacts", params={"searchTerm": "boom"}).json()["Contacts"]
    assert [r["Name"] for r in rows] == ["Boom FM"]


def test_items_are_not_paged(xero: Xero, sandbox: Sandbox) -> None:
    sandbox.control.bulk(Items=150)
    body = xero.get("/Items", params={"page": 1}).json()
    assert "pagination" not in body and len(body["Items"]) >= 150
    tracked = [i for i in body["Items"] if i.get("IsTrackedAsInventory")]
    assert tracked and all(i["QuantityOnHand"] > 0 for i in tracked)


def test_contact_by_contact_number(xero: Xero) -> None:
    rows = xero.get("/Contacts/TEMPLATE").json()["Contacts"]
    assert rows[0]["Name"] == "Template Ledger"
    assert xero.get("/Contacts/NO-SUCH-NUMBER", validate=False).status_code == 404


def test_template_ledger_is_seeded(xero: Xero) -> None:
    ledger = xero.get("/Contacts/TEMPLATE").json()["Contacts"][0]
    assert ledger["BrandingTheme"]["Name"] == "Special Projects"
    assert ledger["PaymentTerms"]["Sales"] == {"Day": 14, "Type": "DAYSAFTERBILLDATE"}
    assert ledger["SalesTrackingCategories"] == [
        {"TrackingCategoryName": "Region", "TrackingOptionName": "North"}
    ]
    assert ledger["SalesDefaultAccountCode"] == "200"
    assert ledger["PurchasesDefaultAccountCode"] == "300"
    assert ledger["Discount"] == 5.0


def test_seeded_statuses_and_bills(xero: Xero) -> None:
    rows = xero.get("/Invoices").json()["Invoices"]
    statuses = {r["Status"] for r in rows if r["Type"] == "ACCREC"}
    assert {"DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED"} <= statuses
    assert any(r["Type"] == "ACCPAY" for r in rows)
    notes = xero.get("/CreditNotes").json()["CreditNotes"]
    assert {"ACCRECCREDIT", "ACCPAYCREDIT"} <= {n["Type"] for n in notes}


def test_dates_are_xero_msdates(xero: Xero) -> None:
    invoice = xero.get("/Invoices", params={"page": 1}).json()["Invoices"][0]
    assert invoice["UpdatedDateUTC"].startswith("/Date(") and invoice["UpdatedDateUTC"].endswith(
        "+0000)/"
    )
    assert invoice["Date"].startswith("/Date(") and invoice["DateString"].endswith("T00:00:00")


def test_xml_without_accept_json(sandbox: Sandbox) -> None:
    headers = {**sandbox.headers(), "Accept": "*/*"}
    response = requests.get(sandbox.api_url + "/Contacts", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text.startswith("<Response") and "<Contacts><Contact>" in response.text
