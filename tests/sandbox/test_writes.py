"""Writing: PUT vs POST, batches and summarizeErrors, Xero's validation messages, read-only
fields, status transitions, line-item update semantics, totals, numbering, stock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id, messages


def line(**extra: Any) -> dict[str, Any]:
    return {
        "Description": "Widget",
        "Quantity": 1,
        "UnitAmount": 100.0,
        "AccountCode": "200",
        "TaxType": "OUTPUT",
        **extra,
    }


def invoice(contact: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "ACCREC", "Contact": {"ContactID": contact}, "LineItems": [line()], **extra}


def put_one(
    xero: Xero, collection: str, element: dict[str, Any], validate: bool = True
) -> dict[str, Any]:
    """PUT one element with summarizeErrors=false. `validate=False` where the answer echoes a
    value the spec forbids (too long, not in an enum): Xero echoes the invalid element too."""
    response = xero.put(
        f"/{collection}",
        {collection: [element]},
        params={"summarizeErrors": "false"},
        validate=validate,
    )
    assert response.status_code == 200
    return dict(response.json()[collection][0])


def test_put_creates_only_post_upserts(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    result = put_one(xero, "Contacts", {"ContactID": boom, "Name": "Renamed"})
    assert result["StatusAttributeString"] == "ERROR"
    response = xero.post("/Contacts", {"Contacts": [{"ContactID": boom, "Name": "Renamed"}]})
    assert response.status_code == 200
    assert response.json()["Contacts"][0]["Name"] == "Renamed"
    created = xero.post("/Contacts", {"Contacts": [{"Name": "Brand New"}]}).json()
    assert created["Contacts"][0]["ContactID"] != boom


def test_summarize_errors_false_reports_each_element(xero: Xero) -> None:
    response = xero.put(
        "/Contacts",
        {"Contacts": [{"Name": "Good One"}, {"Name": "Boom FM"}, {"Name": ""}]},
        params={"summarizeErrors": "false"},
    )
    assert response.status_code == 200
    good, dup, empty = response.json()["Contacts"]
    assert good["StatusAttributeString"] == "OK" and good["HasValidationErrors"] is False
    assert dup["StatusAttributeString"] == "ERROR" and dup["HasValidationErrors"] is True
    assert messages(dup) == [
        "The contact name Boom FM is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]
    assert empty["StatusAttributeString"] == "ERROR"


def test_summarised_batch_is_400_but_valid_elements_are_saved(xero: Xero, sandbox: Sandbox) -> None:
    response = xero.put("/Contacts", {"Contacts": [{"Name": "Saved Anyway"}, {"Name": "Boom FM"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert body["Message"] == "A validation exception occurred"
    assert [e["Name"] for e in body["Elements"]] == ["Boom FM"]
    names = [c["Name"] for c in sandbox.control.records("Contacts")]
    assert "Saved Anyway" in names


def test_contact_number_unique_across_all_contacts(xero: Xero) -> None:
    # C-1006 belongs to the archived Bayside Club
    result = put_one(xero, "Contacts", {"Name": "Another Club", "ContactNumber": "C-1006"})
    assert messages(result) == [
        "The contact number C-1006 is already assigned to another "
        "contact. The contact number must be unique across all contacts."
    ]


def test_archived_name_may_be_reused_but_not_restored_over_an_active_one(
    xero: Xero, sandbox: Sandbox
) -> None:
    assert put_one(xero, "Contacts", {"Name": "Bayside Club"})["StatusAttributeString"] == "OK"
    restore = xero.post(
        "/Contacts",
        {
            "Contacts": [
                {"ContactID": contact_id(sandbox, "Bayside Club"), "ContactStatus": "ACTIVE"}
            ]
        },
        params={"summarizeErrors": "false"},
    ).json()["Contacts"]
    assert (
        any(r["StatusAttributeString"] == "ERROR" for r in restore)
        or len(
            [
                c
                for c in sandbox.control.records("Contacts")
                if c["Name"] == "Bayside Club" and c["ContactStatus"] == "ACTIVE"
            ]
        )
        == 1
    )


@pytest.mark.parametrize(
    ("element", "message"),
    [
        (
            {"Name": "T1", "AccountsReceivableTaxType": "GST99"},
            "The TaxType code GST99 does not exist or cannot be used for this type of transaction.",
        ),
        (
            {"Name": "T2", "SalesDefaultAccountCode": "999"},
            "Account code '999' is not a valid code for this document.",
        ),
        (
            {"Name": "T3", "DefaultCurrency": "JPY"},
            "Organisation is not subscribed to currency JPY",
        ),
        (
            {"Name": "T4", "DefaultCurrency": "ZZZ"},
            "The currency code ZZZ is not a valid currency code.",
        ),
        ({"Name": "N" * 256}, "Name must not be more than 255 characters long."),
        (
            {"Name": "T5", "ContactNumber": "9" * 51},
            "ContactNumber must not be more than 50 characters long.",
        ),
        ({"Name": "T6", "EmailAddress": "not-an-email"}, "Email address must be valid."),
    ],
)
def test_contact_validation_messages(xero: Xero, element: dict[str, Any], message: str) -> None:
    echo_is_spec_valid = "must not be more than" not in message and "ZZZ" not in message
    assert message in messages(put_one(xero, "Contacts", element, echo_is_spec_valid))


def test_contact_read_only_fields_are_ignored(xero: Xero) -> None:
    created = put_one(
        xero,
        "Contacts",
        {
            "Name": "Sneaky",
            "Discount": 50.0,
            "IsCustomer": True,
            "IsSupplier": True,
            "Balances": {"AccountsReceivable": {"Outstanding": 1, "Overdue": 1}},
            "Website": "http://x.example",
        },
    )
    assert created["StatusAttributeString"] == "OK"
    stored = xero.get(f"/Contacts/{created['ContactID']}").json()["Contacts"][0]
    assert "Discount" not in stored and "Balances" not in stored and "Website" not in stored
    assert stored["IsCustomer"] is False and stored["IsSupplier"] is False


def test_item_read_only_fields_and_validation(xero: Xero) -> None:
    created = put_one(
        xero,
        "Items",
        {
            "Code": "NEW-1",
            "Name": "New",
            "QuantityOnHand": 500,
            "IsTrackedAsInventory": True,
            "SalesDetails": {"UnitPrice": 9.5, "AccountCode": "200", "TaxType": "OUTPUT"},
        },
    )
    assert created["StatusAttributeString"] == "OK"
    assert created["IsTrackedAsInventory"] is False and "QuantityOnHand" not in created
    book = xero.get("/Items/BOOK").json()["Items"][0]
    updated = xero.post("/Items", {"Items": [{"Code": "BOOK", "QuantityOnHand": 1}]}).json()
    assert updated["Items"][0]["QuantityOnHand"] == book["QuantityOnHand"]
    assert "Code must not be more than 30 characters long." in messages(
        put_one(xero, "Items", {"Code": "C" * 31}, validate=False)
    )
    assert "Account code '999' is not a valid code for this document." in messages(
        put_one(xero, "Items", {"Code": "BAD-ACC", "SalesDetails": {"AccountCode": "999"}})
    )
    assert put_one(xero, "Items", {"Code": "BOOK"})["StatusAttributeString"] == "ERROR"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"LineItems": [line(AccountCode="999")]},
            "Account code '999' is not a valid code for this document.",
        ),
        (
            {"LineItems": [line(TaxType="VAT20")]},
            "The TaxType code VAT20 does not exist or cannot be used for this type of transaction.",
        ),
        ({"LineItems": [line(ItemCode="NOPE")]}, "Item code 'NOPE' is not valid."),
        ({"CurrencyCode": "JPY"}, "Organisation is not subscribed to currency JPY"),
        ({"InvoiceNumber": "INV-0001"}, "Invoice # must be unique."),
        ({"Reference": "R" * 256}, "Reference must not be more than 255 characters long."),
    ],
)
def test_invoice_validation_messages(
    xero: Xero, sandbox: Sandbox, change: dict[str, Any], message: str
) -> None:
    result = put_one(xero, "Invoices", invoice(contact_id(sandbox, "Boom FM"), **change))
    assert result["StatusAttributeString"] == "ERROR" and result["HasErrors"] is True
    assert message in messages(result)


def test_archived_contact_cannot_be_invoiced(xero: Xero, sandbox: Sandbox) -> None:
    result = put_one(xero, "Invoices", invoice(contact_id(sandbox, "Bayside Club")))
    assert any("has been archived" in m for m in messages(result))


def test_invoice_number_auto_generated_and_unique(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    first = put_one(xero, "Invoices", invoice(boom))
    second = put_one(xero, "Invoices", invoice(boom))
    assert (
        first["InvoiceNumber"].startswith("INV-")
        and first["InvoiceNumber"] != second["InvoiceNumber"]
    )
    bill = put_one(
        xero,
        "Invoices",
        {
            **invoice(boom),
            "Type": "ACCPAY",
            "InvoiceNumber": "PD-7781",
            "LineItems": [line(TaxType="INPUT", AccountCode="300")],
        },
    )
    assert bill["StatusAttributeString"] == "OK"  # ACCPAY numbers need not be unique


def test_totals_with_discount_and_tax(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    result = put_one(
        xero,
        "Invoices",
        invoice(
            boom,
            LineItems=[
                line(Quantity=3, UnitAmount=19.95, DiscountRate=10),
                line(Quantity=1, UnitAmount=50, TaxType="EXEMPTOUTPUT"),
            ],
        ),
    )
    first, second = result["LineItems"]
    assert first["LineAmount"] == 53.87  # 3 x 19.95 x 0.9 = 53.865
    assert first["TaxAmount"] == 5.39
    assert second["TaxAmount"] == 0
    assert result["SubTotal"] == 103.87 and result["TotalTax"] == 5.39
    assert result["Total"] == 109.26 and result["AmountDue"] == 109.26
    inclusive = put_one(
        xero,
        "Invoices",
        invoice(boom, LineAmountTypes="Inclusive", LineItems=[line(UnitAmount=110)]),
    )
    assert inclusive["TotalTax"] == 10.0 and inclusive["SubTotal"] == 100.0
    assert inclusive["Total"] == 110.0


def test_discounts_rejected_on_credit_notes(xero: Xero, sandbox: Sandbox) -> None:
    result = put_one(
        xero,
        "CreditNotes",
        {
            "Type": "ACCRECCREDIT",
            "Contact": {"ContactID": contact_id(sandbox, "Boom FM")},
            "LineItems": [line(DiscountRate=5)],
        },
    )
    assert "Discounts are not supported on credit notes." in messages(result)


def _status(xero: Xero, invoice_id: str, status: str) -> dict[str, Any]:
    response = xero.post(
        f"/Invoices/{invoice_id}",
        {"Invoices": [{"Status": status}]},
        params={"summarizeErrors": "false"},
    )
    return dict(response.json()["Invoices"][0])


def test_status_transitions(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    draft = put_one(xero, "Invoices", invoice(boom))["InvoiceID"]
    assert _status(xero, draft, "DELETED")["Status"] == "DELETED"
    assert _status(xero, draft, "DRAFT")["StatusAttributeString"] == "ERROR"
    approved = put_one(xero, "Invoices", invoice(boom, Status="AUTHORISED"))["InvoiceID"]
    refused = _status(xero, approved, "DELETED")
    assert refused["StatusAttributeString"] == "ERROR"
    assert _status(xero, approved, "DRAFT")["StatusAttributeString"] == "ERROR"
    assert _status(xero, approved, "VOIDED")["Status"] == "VOIDED"
    assert messages(_status(xero, approved, "AUTHORISED")) == [
        "Invoice not of valid status for modification"
    ]
    submitted = put_one(xero, "Invoices", invoice(boom, Status="SUBMITTED"))["InvoiceID"]
    assert _status(xero, submitted, "DRAFT")["Status"] == "DRAFT"
    assert put_one(xero, "Invoices", invoice(boom, Status="PAID"))["StatusAttributeString"] == (
        "ERROR"
    )


def test_line_item_update_semantics(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    created = put_one(
        xero,
        "Invoices",
        invoice(boom, LineItems=[line(Description="keep"), line(Description="drop")]),
    )
    keep = created["LineItems"][0]
    response = xero.post(
        f"/Invoices/{created['InvoiceID']}",
        {
            "Invoices": [
                {
                    "LineItems": [
                        {"LineItemID": keep["LineItemID"], "Quantity": 2},
                        line(Description="new"),
                    ]
                }
            ]
        },
    )
    lines = response.json()["Invoices"][0]["LineItems"]
    assert [li["Description"] for li in lines] == ["keep", "new"]
    assert lines[0]["LineItemID"] == keep["LineItemID"] and lines[0]["Quantity"] == 2
    status_only = xero.post(
        f"/Invoices/{created['InvoiceID']}", {"Invoices": [{"Reference": "no lines sent"}]}
    )
    assert len(status_only.json()["Invoices"][0]["LineItems"]) == 2


def test_draft_invoice_from_template_defaults(xero: Xero, sandbox: Sandbox) -> None:
    ledger = contact_id(sandbox, "Template Ledger")
    result = put_one(
        xero,
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": ledger},
            "LineItems": [{"ItemCode": "DevD", "Quantity": 1}],
        },
    )
    li = result["LineItems"][0]
    assert li["UnitAmount"] == 995.0 and li["AccountCode"] == "200" and li["TaxType"] == "OUTPUT"
    assert li["Item"]["Code"] == "DevD"
    themes = {
        t["Name"]: t["BrandingThemeID"]
        for t in xero.get("/BrandingThemes").json()["BrandingThemes"]
    }
    assert result["BrandingThemeID"] == themes["Special Projects"]


def test_approving_moves_tracked_stock(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    before = xero.get("/Items/DESK").json()["Items"][0]["QuantityOnHand"]
    ok = put_one(
        xero,
        "Invoices",
        invoice(boom, Status="AUTHORISED", LineItems=[{"ItemCode": "DESK", "Quantity": 1}]),
    )
    assert ok["StatusAttributeString"] == "OK"
    assert xero.get("/Items/DESK").json()["Items"][0]["QuantityOnHand"] == before - 1
    too_many = put_one(
        xero,
        "Invoices",
        invoice(boom, Status="AUTHORISED", LineItems=[{"ItemCode": "DESK", "Quantity": 100}]),
    )
    assert too_many["StatusAttributeString"] == "ERROR"
    _status(xero, ok["InvoiceID"], "VOIDED")
    assert xero.get("/Items/DESK").json()["Items"][0]["QuantityOnHand"] == before


def test_creating_accrec_invoice_marks_customer_without_bumping_updated(
    xero: Xero, sandbox: Sandbox
) -> None:
    created = put_one(xero, "Contacts", {"Name": "Fresh Customer"})
    assert created["IsCustomer"] is False
    sandbox.control.advance_clock(5)
    put_one(xero, "Invoices", invoice(created["ContactID"]))
    after = xero.get(f"/Contacts/{created['ContactID']}").json()["Contacts"][0]
    assert after["IsCustomer"] is True
    assert after["UpdatedDateUTC"] == created["UpdatedDateUTC"]  # Xero's IMS blind spot


def test_updated_date_bumps_on_write(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    before = xero.get(f"/Contacts/{boom}").json()["Contacts"][0]["UpdatedDateUTC"]
    sandbox.control.advance_clock(3)
    after = xero.post(f"/Contacts/{boom}", {"Contacts": [{"EmailAddress": "n@x.example"}]}).json()[
        "Contacts"
    ][0]["UpdatedDateUTC"]
    assert int(after[6:-7]) - int(before[6:-7]) >= 3000
