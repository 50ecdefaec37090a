"""Every endpoint's responses, errors included, validated against Xero's OpenAPI spec."""

from __future__ import annotations

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id

LISTS = [
    "/Contacts",
    "/Items",
    "/Invoices",
    "/CreditNotes",
    "/Accounts",
    "/TaxRates",
    "/Currencies",
    "/BrandingThemes",
    "/TrackingCategories",
    "/Organisation",
]


@pytest.mark.parametrize("path", LISTS)
def test_every_list_conforms(xero: Xero, path: str) -> None:
    response = xero.get(
        path, params={"page": 1} if path in ("/Contacts", "/Invoices", "/CreditNotes") else None
    )
    assert response.status_code == 200
    assert xero.validated == 1
    body = response.json()
    assert body["Status"] == "OK" and body["Id"] and body["DateTimeUTC"].startswith("/Date(")


def test_single_gets_conform(xero: Xero) -> None:
    for path, key, id_field in [
        ("/Contacts", "Contacts", "ContactID"),
        ("/Items", "Items", "ItemID"),
        ("/Invoices", "Invoices", "InvoiceID"),
        ("/CreditNotes", "CreditNotes", "CreditNoteID"),
        ("/Accounts", "Accounts", "AccountID"),
        ("/BrandingThemes", "BrandingThemes", "BrandingThemeID"),
        ("/TrackingCategories", "TrackingCategories", "TrackingCategoryID"),
    ]:
        first = xero.get(path).json()[key][0]
        one = xero.get(f"{path}/{first[id_field]}")
        assert one.status_code == 200, path
        assert one.json()[key][0][id_field] == first[id_field]
    assert xero.validated == 14


def test_writes_and_validation_errors_conform(xero: Xero, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    assert xero.put("/Contacts", {"Contacts": [{"Name": "Conform Ltd"}]}).status_code == 200
    assert xero.put("/Contacts", {"Contacts": [{"Name": "Boom FM"}]}).status_code == 400
    assert (
        xero.post(f"/Contacts/{boom}", {"Contacts": [{"EmailAddress": "a@b.example"}]}).status_code
        == 200
    )
    assert (
        xero.put("/Items", {"Items": [{"Code": "CONF-1", "Name": "Conformance"}]}).status_code
        == 200
    )
    assert xero.put("/Items", {"Items": [{"Code": "X" * 31}]}).status_code == 400
    invoice = {
        "Type": "ACCREC",
        "Contact": {"ContactID": boom},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}],
    }
    created = xero.put("/Invoices", {"Invoices": [invoice]})
    assert created.status_code == 200
    bad = xero.put(
        "/Invoices",
        {"Invoices": [{**invoice, "LineItems": [{"Description": "x", "AccountCode": "999"}]}]},
    )
    assert bad.status_code == 400
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]
    assert (
        xero.post(f"/Invoices/{invoice_id}", {"Invoices": [{"Status": "AUTHORISED"}]}).status_code
        == 200
    )
    note = {
        "Type": "ACCRECCREDIT",
        "Contact": {"ContactID": boom},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}],
    }
    assert xero.put("/CreditNotes", {"CreditNotes": [note]}).status_code == 200
    assert xero.put("/CreditNotes", {"CreditNotes": [{**note, "Type": "NOPE"}]}).status_code == 400
    mixed = xero.post(
        "/Contacts",
        {"Contacts": [{"Name": "Boom FM"}, {"Name": "Fine Co"}]},
        params={"summarizeErrors": "false"},
    )
    assert mixed.status_code == 200
    assert xero.validated == 11


def test_where_error_conforms(xero: Xero) -> None:
    response = xero.get("/Invoices", params={"where": 'Nonsense=="x"'})
    assert response.status_code == 400
    assert response.json()["Type"] == "QueryParseException"


def test_connections_conform_to_identity_spec(sandbox: Sandbox, identity_openapi: OpenAPI) -> None:
    response = requests.get(
        sandbox.url + "/Connections", headers=sandbox.token().bearer, timeout=10
    )
    assert response.status_code == 200
    identity_openapi.validate_response(
        RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
    )
    assert response.json()[0]["tenantName"] == "Demo Company"
