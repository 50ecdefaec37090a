"""Customers ⇄ Xero contacts.

A push sends the customer's details (name, email, currency, status, AR tax type, tax number,
phone, street address, contact name). A *new* contact also takes the accounting defaults of the
organisation's template-ledger contact; an update never sends them, because once a contact
exists the accounts team owns its terms, branding, tracking and account codes.

Xero treats a contact's `Discount` as read-only, so the template's discount is not sent: it
becomes the customer's `default_discount` in the CRM and reaches Xero as `DiscountRate` on
the lines of that customer's invoices (see `mapping.invoices`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xerosync.models import Customer

CONTACT_NUMBER_PREFIX = "CRM-"
"""ContactNumber xerosync sets on contacts it creates (unique across all Xero contacts)."""


def contact_number(customer_id: int) -> str:
    return f"{CONTACT_NUMBER_PREFIX}{customer_id}"


@dataclass(frozen=True)
class TemplateDefaults:
    """Accounting defaults a new contact inherits from the template-ledger contact."""

    branding_theme: Mapping[str, Any] | None = None
    payment_terms: Mapping[str, Any] | None = None
    sales_tracking_categories: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    sales_default_account_code: str | None = None
    purchases_default_account_code: str | None = None
    discount: Decimal | None = None

    @classmethod
    def from_contact(cls, contact: Mapping[str, Any]) -> TemplateDefaults:
        """Read the defaults off the template contact as Xero returns it."""
        theme = contact.get("BrandingTheme")
        discount = contact.get("Discount")
        return cls(
            branding_theme=(
                {"BrandingThemeID": theme["BrandingThemeID"]}
                if isinstance(theme, Mapping) and theme.get("BrandingThemeID")
                else None
            ),
            payment_terms=contact.get("PaymentTerms") or None,
            sales_tracking_categories=tuple(
                {
                    "TrackingCategoryName": category.get("TrackingCategoryName"),
                    "TrackingOptionName": category.get("TrackingOptionName"),
                }
                for category in contact.get("SalesTrackingCategories") or ()
            ),
            sales_default_account_code=contact.get("SalesDefaultAccountCode") or None,
            purchases_default_account_code=contact.get("PurchasesDefaultAccountCode") or None,
            discount=Decimal(str(discount)) if discount not in (None, "") else None,
        )

    def payload(self) -> dict[str, Any]:
        """The fields a new contact is created with (never the discount: read-only in Xero)."""
        fields: dict[str, Any] = {}
        if self.branding_theme:
            fields["BrandingTheme"] = dict(self.branding_theme)
        if self.payment_terms:
            fields["PaymentTerms"] = dict(self.payment_terms)
        if self.sales_tracking_categories:
            fields["SalesTrackingCategories"] = [dict(c) for c in self.sales_tracking_categories]
        if self.sales_default_account_code:
            fields["SalesDefaultAccountCode"] = self.sales_default_account_code
        if self.purchases_default_account_code:
            fields["PurchasesDefaultAccountCode"] = self.purchases_default_account_code
        return fields


TEMPLATE_FIELDS = frozenset(
    {
        "BrandingTheme",
        "PaymentTerms",
        "SalesTrackingCategories",
        "PurchasesTrackingCategories",
        "SalesDefaultAccountCode",
        "PurchasesDefaultAccountCode",
        "Discount",
    }
)
"""Fields the accounts team owns once a contact exists: never part of an update."""


def _text(value: str | None) -> str:
    return (value or "").strip()


def contact_details(customer: Customer) -> dict[str, Any]:
    """The customer's details as Xero contact fields: what create and update both send.

    Text fields the CRM has emptied are sent as "" so Xero clears them too; codes Xero checks
    (currency, tax type) are left out when the CRM has none.
    """
    details: dict[str, Any] = {
        "Name": _text(customer.name),
        "EmailAddress": _text(customer.email),
        "FirstName": _text(customer.first_name),
        "LastName": _text(customer.last_name),
        "TaxNumber": _text(customer.tax_number),
        "ContactStatus": "ACTIVE" if customer.is_active else "ARCHIVED",
        "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": _text(customer.phone)}],
        "Addresses": [
            {
                "AddressType": "STREET",
                "AddressLine1": _text(customer.address_line1),
                "AddressLine2": _text(customer.address_line2),
                "City": _text(customer.city),
                "Region": _text(customer.region),
                "PostalCode": _text(customer.postal_code),
                "Country": _text(customer.country),
            }
        ],
    }
    if customer.default_currency:
        details["DefaultCurrency"] = customer.default_currency.strip().upper()
    if customer.tax_type:
        details["AccountsReceivableTaxType"] = customer.tax_type.strip()
    return details


def new_contact(customer: Customer, template: TemplateDefaults | None) -> dict[str, Any]:
    """Payload creating the customer's contact, with the template ledger's defaults."""
    payload = contact_details(customer)
    payload["ContactNumber"] = contact_number(customer.id)
    if template is not None:
        payload.update(template.payload())
    return payload


def contact_update(customer: Customer, contact_id: str) -> dict[str, Any]:
    """Payload updating an existing contact: details only, never the template's fields."""
    return {"ContactID": contact_id, **contact_details(customer)}


def _pick(entries: Any, key: str, preferred: tuple[str, ...]) -> Mapping[str, Any]:
    by_type = {e.get(key): e for e in entries or () if isinstance(e, Mapping)}
    for kind in preferred:
        if kind in by_type:
            return by_type[kind]
    return {}


def _or_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
    return value or None


def _phone_text(phone: Mapping[str, Any]) -> str | None:
    parts = [_text(phone.get(k)) for k in ("PhoneCountryCode", "PhoneAreaCode", "PhoneNumber")]
    return " ".join(p for p in parts if p) or None


def customer_fields(contact: Mapping[str, Any]) -> dict[str, Any]:
    """CRM customer columns from a Xero contact (import). Archived contacts are inactive."""
    address = _pick(contact.get("Addresses"), "AddressType", ("STREET", "POBOX"))
    phone = _pick(contact.get("Phones"), "PhoneType", ("DEFAULT", "MOBILE", "DDI", "OFFICE"))
    return {
        "name": _text(contact.get("Name")),
        "email": _or_none(contact.get("EmailAddress")),
        "default_currency": _or_none(contact.get("DefaultCurrency")),
        "is_active": contact.get("ContactStatus", "ACTIVE") == "ACTIVE",
        "tax_type": _or_none(contact.get("AccountsReceivableTaxType")),
        "tax_number": _or_none(contact.get("TaxNumber")),
        "phone": _phone_text(phone),
        "address_line1": _or_none(address.get("AddressLine1")),
        "address_line2": _or_none(address.get("AddressLine2")),
        "city": _or_none(address.get("City")),
        "region": _or_none(address.get("Region")),
        "postal_code": _or_none(address.get("PostalCode")),
        "country": _or_none(address.get("Country")),
        "first_name": _or_none(contact.get("FirstName")),
        "last_name": _or_none(contact.get("LastName")),
    }
