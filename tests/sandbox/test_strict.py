"""The sandbox is as strict as Xero where it used to be kinder (issue 13): typed `where`,
no quote escapes, Xero's cap on comma lists, unstorable numbers, `/Organisations`, request
size. Xero's official SDK (xero-python) is used wherever it has the call."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from xero_python.accounting import AccountingApi, Contact, Invoice, Invoices, LineItem
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token
from xero_python.exceptions import BadRequestException, NotFoundException

from tests.fixtures.sandbox import Sandbox
from tests.sandbox.conftest import Xero, contact_id
from xerosync.sandbox.resources import settings


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


def query_error(info: pytest.ExceptionInfo[BadRequestException]) -> dict[str, Any]:
    body = dict(info.value.error_data)
    assert body["Type"] == "QueryParseException" and body["ErrorNumber"] == 16, body
    return body


# -- 1. where: a field against a value of another type ---------------------------------------
@pytest.mark.parametrize(
    ("resource", "where", "message"),
    [
        ("invoices", 'Total=="abc"', "'Decimal' and 'String'"),
        ("invoices", "Date==123", "'DateTime?' and 'Int32'"),
        ("invoices", 'DueDate >= "2024-01-01"', "'DateTime?' and 'String'"),
        ("invoices", 'InvoiceID=="INV-0001"', "'Guid' and 'String'"),
        ("invoices", 'Contact.ContactID==guid("not-a-guid")', "Guid should contain 32 digits"),
        ("items", 'IsSold=="yes"', "'Boolean' and 'String'"),
        ("contacts", "Name==42", "'String' and 'Int32'"),
        ("contacts", 'IsCustomer=="true"', "'Boolean' and 'String'"),
    ],
)
def test_where_with_a_value_of_the_wrong_type_is_a_query_parse_exception(
    sdk: AccountingApi, sandbox: Sandbox, resource: str, where: str, message: str
) -> None:
    call = getattr(sdk, f"get_{resource}")
    with pytest.raises(BadRequestException) as info:
        call(sandbox.tenant_id, where=where)
    assert info.value.status == 400
    assert message in query_error(info)["Message"]


def test_where_with_matching_types_still_filters(sdk: AccountingApi, sandbox: Sandbox) -> None:
    tenant = sandbox.tenant_id
    boom = contact_id(sandbox, "Boom FM")
    rows = sdk.get_invoices(
        tenant, where=f'Total > 0 AND Contact.ContactID==guid("{boom}") AND Type=="ACCREC"'
    ).invoices
    assert rows
    assert {str(r.contact.contact_id) for r in rows} == {boom}
    assert sdk.get_items(tenant, where="IsSold==true").items
    assert sdk.get_invoices(tenant, where="Date >= DateTime(2000,1,1)").invoices


# -- 2. no escaped quotes inside a where string -------------------------------------------------
@pytest.mark.parametrize(
    "where",
    ['Name=="Say \\"Hi\\" Ltd"', 'Name=="Say ""Hi"" Ltd"', 'Name.Contains("Say \\"Hi")'],
)
def test_a_quote_inside_a_where_string_is_refused(
    sdk: AccountingApi, sandbox: Sandbox, where: str
) -> None:
    with pytest.raises(BadRequestException) as info:
        sdk.get_contacts(sandbox.tenant_id, where=where)
    query_error(info)


def test_search_term_finds_a_name_with_quotes(sdk: AccountingApi, sandbox: Sandbox) -> None:
    from xero_python.accounting import Contacts

    name = 'Say "Hi" Ltd'
    sdk.create_contacts(sandbox.tenant_id, contacts=Contacts(contacts=[Contact(name=name)]))
    found = sdk.get_contacts(sandbox.tenant_id, search_term='"Hi"').contacts
    assert [c.name for c in found] == [name]


# -- 3. comma lists past Xero's limit -----------------------------------------------------------
def test_fifty_two_ids_are_answered_and_fifty_three_are_xeros_404(
    sdk: AccountingApi, sandbox: Sandbox
) -> None:
    tenant = sandbox.tenant_id
    boom = contact_id(sandbox, "Boom FM")
    ids = [boom] + [str(uuid.uuid4()) for _ in range(51)]
    assert [str(c.contact_id) for c in sdk.get_contacts(tenant, i_ds=ids).contacts] == [boom]
    with pytest.raises(NotFoundException):
        sdk.get_contacts(tenant, i_ds=[*ids, str(uuid.uuid4())])
    with pytest.raises(NotFoundException):  # the same GUID 53 times, as xero-node #404 saw
        sdk.get_invoices(tenant, contact_i_ds=[boom] * 53)
    assert sdk.get_invoices(tenant, contact_i_ds=[boom] * 52).invoices


def test_invoice_numbers_past_the_length_of_fifty_two_guids_are_404(xero: Xero) -> None:
    short = ",".join(f"INV-{n:04d}" for n in range(52))
    assert xero.get("/Invoices", params={"InvoiceNumbers": short}).status_code == 200
    long = ",".join(f"INV-{n:020d}" for n in range(52))  # 52 entries, 1,351 chars: fine
    assert xero.get("/Invoices", params={"InvoiceNumbers": long}).status_code == 200
    longer = ",".join(f"INV-{n:036d}" for n in range(50))  # 50 entries, 2,049 chars
    response = xero.get("/Invoices", params={"InvoiceNumbers": longer})
    assert response.status_code == 404
    assert response.text == "The resource you're looking for cannot be found"
    many = ",".join(f"I{n}" for n in range(53))
    assert xero.get("/Invoices", params={"InvoiceNumbers": many}).status_code == 404


# -- 4. numbers Xero cannot store ---------------------------------------------------------------
def draft(contact: str, **line: Any) -> dict[str, Any]:
    base = {"Description": "Work", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"}
    return {"Type": "ACCREC", "Contact": {"ContactID": contact}, "LineItems": [{**base, **line}]}


def put_raw(xero: Xero, path: str, body: str, **params: str) -> requests.Response:
    headers = {**xero.headers(), "Content-Type": "application/json"}
    return xero.session.put(
        xero.sandbox.api_url + path, data=body, headers=headers, params=params, timeout=30
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('"Quantity": NaN', "Quantity must be a finite number"),
        ('"UnitAmount": Infinity', "UnitAmount must be a finite number"),
        ('"UnitAmount": -Infinity', "UnitAmount must be a finite number"),
        ('"Quantity": 1e999', "Quantity must be a finite number"),
        ('"UnitAmount": "NaN"', "UnitAmount must be a finite number"),
        ('"Quantity": "Infinity"', "Quantity must be a finite number"),
        ('"UnitAmount": 1e18', "UnitAmount must be less than 10^18"),
        ('"UnitAmount": 12345678901234567890123', "UnitAmount must be less than 10^18"),
        ('"Quantity": 1e10, "UnitAmount": 1e10', "LineAmount must be less than 10^18"),
        ('"DiscountRate": NaN', "DiscountRate must be a finite number"),
    ],
)
def test_unstorable_numbers_are_validation_errors(xero: Xero, line: str, message: str) -> None:
    contact = contact_id(xero.sandbox, "Boom FM")
    template = (
        '{"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": "CONTACT"}, "LineItems": '
        '[{"Description": "Work", "AccountCode": "200", "Quantity": 1, "UnitAmount": 1, LINE}]}]}'
    )  # later keys win: LINE overrides Quantity/UnitAmount
    body = template.replace("CONTACT", contact).replace("LINE", line)
    response = put_raw(xero, "/Invoices", body)
    assert response.status_code == 400
    parsed = json.loads(response.text)  # strict: NaN/Infinity would fail here
    assert parsed["Type"] == "ValidationException" and parsed["ErrorNumber"] == 10
    found = [e["Message"] for e in parsed["Elements"][0]["ValidationErrors"]]
    assert any(message in m for m in found), found
    kept = put_raw(xero, "/Invoices", body, summarizeErrors="false")
    assert kept.status_code == 200
    element = json.loads(kept.text)["Invoices"][0]
    assert element["HasErrors"] is True and element["StatusAttributeString"] == "ERROR"


def test_currency_rate_keeps_six_decimals(xero: Xero) -> None:
    contact = contact_id(xero.sandbox, "Boom FM")
    fine = draft(contact) | {"CurrencyCode": "USD", "CurrencyRate": 0.654321}
    assert xero.put("/Invoices", {"Invoices": [fine]}).status_code == 200
    bad = draft(contact) | {"CurrencyCode": "USD", "CurrencyRate": 0.6543219}
    response = xero.put("/Invoices", {"Invoices": [bad]})
    assert response.status_code == 400
    assert "CurrencyRate must not have more than 6 decimal places." in response.text


def test_nan_from_the_sdk_is_a_validation_error(sdk: AccountingApi, sandbox: Sandbox) -> None:
    boom = contact_id(sandbox, "Boom FM")
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=boom),
        line_items=[
            LineItem(description="x", quantity=float("nan"), unit_amount=1, account_code="200")
        ],
    )
    result = sdk.create_invoices(
        sandbox.tenant_id, invoices=Invoices(invoices=[invoice]), summarize_errors=False
    )
    element = result.invoices[0]
    assert element.has_errors is True
    assert "Quantity must be a finite number" in element.validation_errors[0].message


def test_an_item_price_of_infinity_is_refused(xero: Xero) -> None:
    body = '{"Items": [{"Code": "INF", "Name": "Inf", "SalesDetails": {"UnitPrice": Infinity}}]}'
    response = put_raw(xero, "/Items", body)
    assert response.status_code == 400 and "UnitPrice must be a finite number" in response.text
    json.loads(response.text)


def test_a_sandbox_crash_is_a_json_500_and_logged(
    xero: Xero, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ctx: Any) -> Any:
        raise RuntimeError("deliberate")

    monkeypatch.setattr(settings, "organisation", boom)
    response = xero.get("/Organisation", validate=False)
    assert response.status_code == 500
    body = response.json()
    assert body["Status"] == 500 and "RuntimeError: deliberate" in body["Detail"]
    logged = sandbox.control.requests(path="/api.xro/2.0/Organisation")
    assert [r["status"] for r in logged] == [500]


# -- 5. /Organisations --------------------------------------------------------------------------
def test_organisations_answers_like_organisation(xero: Xero, sdk: AccountingApi) -> None:
    one = xero.get("/Organisation").json()
    both = xero.get("/Organisations", validate=False)
    assert both.status_code == 200
    assert both.json()["Organisations"] == one["Organisations"]
    assert sdk.get_organisations(xero.sandbox.tenant_id).organisations[0].name


# -- 6. request size ----------------------------------------------------------------------------
@pytest.fixture
def small_limit(sandbox: Sandbox) -> Iterator[int]:
    sandbox.control.config(max_request_bytes=2000)
    yield 2000


def test_default_limit_is_three_and_a_half_mb(sandbox: Sandbox) -> None:
    assert sandbox.control.config()["max_request_bytes"] == 3_500_000


def contacts_body(size: int) -> bytes:
    name = "x" * max(1, size - 40)
    return json.dumps({"Contacts": [{"Name": name[:255], "FirstName": name}]}).encode()


def test_a_body_over_the_limit_is_413_and_logged(
    xero: Xero, sandbox: Sandbox, small_limit: int
) -> None:
    headers = {**xero.headers(), "Content-Type": "application/json"}
    url = sandbox.api_url + "/Contacts"
    big = contacts_body(small_limit + 500)
    response = requests.put(url, data=big, headers=headers, timeout=30)
    assert response.status_code == 413
    body = response.json()
    assert body["Status"] == 413 and f"{len(big):,} bytes" in body["Detail"]
    assert sandbox.control.requests(path="/api.xro/2.0/Contacts")[-1]["status"] == 413

    chunks: Iterator[bytes] = iter([big[:1000], big[1000:]])  # chunked: no Content-Length
    chunked = requests.put(url, data=chunks, headers=headers, timeout=30)
    assert chunked.status_code == 413

    fits = json.dumps({"Contacts": [{"Name": "Small"}]}).encode()
    assert requests.put(url, data=fits, headers=headers, timeout=30).status_code == 200
