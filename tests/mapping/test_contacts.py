from decimal import Decimal

from xerosync.mapping.contacts import (
    TEMPLATE_FIELDS,
    TemplateDefaults,
    contact_details,
    contact_update,
    customer_fields,
    new_contact,
)
from xerosync.models import Customer

TEMPLATE_CONTACT = {
    "ContactID": "tmpl",
    "Name": "Template Ledger",
    "BrandingTheme": {"BrandingThemeID": "bt-1", "Name": "Special"},
    "PaymentTerms": {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}},
    "SalesTrackingCategories": [
        {"TrackingCategoryName": "Region", "TrackingOptionName": "North", "Extra": 1}
    ],
    "SalesDefaultAccountCode": "200",
    "PurchasesDefaultAccountCode": "300",
    "Discount": 5.0,
}


def customer(**overrides: object) -> Customer:
    fields: dict[str, object] = {
        "id": 42,
        "connection_id": 1,
        "name": " Acme Ltd ",
        "email": "ap@acme.test",
        "default_currency": "aud",
        "is_active": True,
        "tax_type": "OUTPUT",
        "tax_number": "12 345 678 901",
        "phone": "+61 2 5550 1234",
        "address_line1": "1 Main St",
        "city": "Sydney",
        "country": "Australia",
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    fields.update(overrides)
    return Customer(**fields)


def test_details_carry_every_pushed_field() -> None:
    details = contact_details(customer())
    assert details["Name"] == "Acme Ltd"
    assert details["EmailAddress"] == "ap@acme.test"
    assert details["DefaultCurrency"] == "AUD"
    assert details["ContactStatus"] == "ACTIVE"
    assert details["AccountsReceivableTaxType"] == "OUTPUT"
    assert details["TaxNumber"] == "12 345 678 901"
    assert details["Phones"] == [{"PhoneType": "DEFAULT", "PhoneNumber": "+61 2 5550 1234"}]
    assert details["Addresses"][0]["AddressType"] == "STREET"
    assert details["Addresses"][0]["City"] == "Sydney"
    assert (details["FirstName"], details["LastName"]) == ("Ada", "Lovelace")


def test_archived_customers_become_archived_contacts_and_blanks_clear() -> None:
    details = contact_details(customer(is_active=False, email=None, tax_type=None))
    assert details["ContactStatus"] == "ARCHIVED"
    assert details["EmailAddress"] == ""
    assert "AccountsReceivableTaxType" not in details


def test_a_new_contact_inherits_the_template_but_not_its_discount() -> None:
    template = TemplateDefaults.from_contact(TEMPLATE_CONTACT)
    payload = new_contact(customer(), template)
    assert payload["ContactNumber"] == "CRM-42"
    assert payload["BrandingTheme"] == {"BrandingThemeID": "bt-1"}
    assert payload["PaymentTerms"] == {"Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"}}
    assert payload["SalesTrackingCategories"] == [
        {"TrackingCategoryName": "Region", "TrackingOptionName": "North"}
    ]
    assert payload["SalesDefaultAccountCode"] == "200"
    assert payload["PurchasesDefaultAccountCode"] == "300"
    assert "Discount" not in payload
    assert template.discount == Decimal("5.0")


def test_an_update_never_sends_what_the_accounts_team_owns() -> None:
    payload = contact_update(customer(), "c-1")
    assert payload["ContactID"] == "c-1"
    assert not TEMPLATE_FIELDS & payload.keys()
    assert "ContactNumber" not in payload


def test_import_reads_a_contact_into_customer_columns() -> None:
    fields = customer_fields(
        {
            "ContactID": "c-9",
            "Name": "Bayside Club",
            "EmailAddress": "",
            "ContactStatus": "ARCHIVED",
            "DefaultCurrency": "NZD",
            "Phones": [
                {"PhoneType": "DDI", "PhoneNumber": ""},
                {"PhoneType": "DEFAULT", "PhoneNumber": "5551234", "PhoneAreaCode": "02"},
            ],
            "Addresses": [
                {"AddressType": "POBOX", "AddressLine1": "PO Box 1"},
                {"AddressType": "STREET", "AddressLine1": "148 Bay St", "City": "Brighton"},
            ],
        }
    )
    assert fields["name"] == "Bayside Club"
    assert fields["email"] is None
    assert fields["is_active"] is False
    assert fields["phone"] == "02 5551234"
    assert (fields["address_line1"], fields["city"]) == ("148 Bay St", "Brighton")
    assert fields["default_currency"] == "NZD"
