"""The fast path loads exactly what marshmallow loads, and leaves every doubt to marshmallow."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from marshmallow import ValidationError

from tests.fixtures.sandbox import Sandbox
from xerosync.xero import codec
from xerosync.xero.schemas import SCHEMAS, fast_load, load_many

pytestmark = pytest.mark.integration

READ = {
    "Contacts": "Contacts?includeArchived=true",
    "Items": "Items",
    "Invoices": "Invoices?page=1",
    "CreditNotes": "CreditNotes?page=1",
    "Accounts": "Accounts",
    "TaxRates": "TaxRates",
    "Currencies": "Currencies",
    "BrandingThemes": "BrandingThemes",
    "TrackingCategories": "TrackingCategories",
}


def marshmallow(resource: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(SCHEMAS[resource](many=True).load(rows))


@pytest.mark.parametrize("resource", sorted(READ))
def test_what_the_sandbox_sends_loads_the_same_both_ways(sandbox: Sandbox, resource: str) -> None:
    sandbox.control.bulk(Contacts=40, Invoices=40)
    response = requests.get(
        sandbox.api_url.rstrip("/") + "/" + READ[resource], headers=sandbox.headers(), timeout=30
    )
    response.raise_for_status()
    rows = codec.loads(response.content)[resource]
    assert rows
    fast = fast_load(resource, rows)
    assert fast is not None
    assert fast == marshmallow(resource, rows)


CONTACT = {
    "ContactID": "c1",
    "Name": "Acme",
    "IsCustomer": True,
    "UpdatedDateUTC": "/Date(1700000000000+0000)/",
    "Addresses": [{"AddressType": "POBOX", "City": "Perth"}],
    "SomethingNew": {"kept": [1, 2]},
}


def test_a_plain_row_keeps_fields_it_does_not_know() -> None:
    [loaded] = load_many("Contacts", [CONTACT])
    assert loaded == marshmallow("Contacts", [CONTACT])[0]
    assert loaded["SomethingNew"] == {"kept": [1, 2]}


@pytest.mark.parametrize(
    "odd",
    [
        {"IsCustomer": "true"},  # marshmallow reads it as True; the fast path does not guess
        {"Name": 5},  # a validation error
        {"UpdatedDateUTC": "not a date"},
        {"Addresses": {"AddressType": "POBOX"}},
    ],
)
def test_any_doubt_goes_to_marshmallow(odd: dict[str, Any]) -> None:
    rows = [CONTACT, {**CONTACT, **odd}]
    assert fast_load("Contacts", rows) is None
    try:
        expected: Any = marshmallow("Contacts", rows)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            load_many("Contacts", rows)
        assert raised.value.messages == exc.messages
    else:
        assert load_many("Contacts", rows) == expected
