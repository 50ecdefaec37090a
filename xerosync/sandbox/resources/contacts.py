"""`/Contacts`: list (paged), get by ContactID or ContactNumber, create (PUT), upsert (POST).

Read-only fields (`Discount`, `IsCustomer`, `IsSupplier`, `Balances`, `Website`, …) are
ignored on write. Names are unique across ACTIVE contacts; ContactNumber across all.
"""

from __future__ import annotations

import re
from typing import Any

from xerosync.sandbox import errors, validation
from xerosync.sandbox.resources.common import (
    Ctx,
    ElementError,
    check_length,
    elements_of,
    id_list,
    new_id,
    page_of,
    public,
    query,
    run_batch,
    updated_reader,
)
from xerosync.sandbox.store import Record, Tenant
from xerosync.sandbox.where import Schema, field_types, fieldset

CONTACT_FIELDS = fieldset(
    [
        "ContactID",
        "MergedToContactID",
        "ContactNumber",
        "AccountNumber",
        "ContactStatus",
        "Name",
        "FirstName",
        "LastName",
        "CompanyNumber",
        "EmailAddress",
        "ContactPersons",
        "BankAccountDetails",
        "TaxNumber",
        "TaxNumberType",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "Addresses",
        "Phones",
        "IsSupplier",
        "IsCustomer",
        "SalesDefaultLineAmountType",
        "PurchasesDefaultLineAmountType",
        "DefaultCurrency",
        "XeroNetworkKey",
        "SalesDefaultAccountCode",
        "PurchasesDefaultAccountCode",
        "SalesTrackingCategories",
        "PurchasesTrackingCategories",
        "TrackingCategoryName",
        "TrackingCategoryOption",
        "PaymentTerms",
        "UpdatedDateUTC",
        "ContactGroups",
        "Website",
        "BrandingTheme",
        "BatchPayments",
        "Discount",
        "Balances",
        "Attachments",
        "HasAttachments",
        "ValidationErrors",
        "HasValidationErrors",
        "StatusAttributeString",
    ]
)

WRITABLE = fieldset(
    [
        "ContactNumber",
        "AccountNumber",
        "ContactStatus",
        "Name",
        "FirstName",
        "LastName",
        "CompanyNumber",
        "EmailAddress",
        "ContactPersons",
        "BankAccountDetails",
        "TaxNumber",
        "TaxNumberType",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "Addresses",
        "Phones",
        "SalesDefaultLineAmountType",
        "PurchasesDefaultLineAmountType",
        "DefaultCurrency",
        "XeroNetworkKey",
        "SalesDefaultAccountCode",
        "PurchasesDefaultAccountCode",
        "SalesTrackingCategories",
        "PurchasesTrackingCategories",
        "PaymentTerms",
        "BrandingTheme",
        "BatchPayments",
    ]
)

SUMMARY_FIELDS = fieldset(
    [
        "ContactID",
        "ContactNumber",
        "AccountNumber",
        "ContactStatus",
        "Name",
        "FirstName",
        "LastName",
        "CompanyNumber",
        "EmailAddress",
        "BankAccountDetails",
        "AccountsReceivableTaxType",
        "AccountsPayableTaxType",
        "IsSupplier",
        "IsCustomer",
        "DefaultCurrency",
        "SalesDefaultLineAmountType",
        "PurchasesDefaultLineAmountType",
        "UpdatedDateUTC",
        "HasAttachments",
        "HasValidationErrors",
    ]
)
"""What `summaryOnly=true` keeps. Seen on Xero: Addresses, Phones and TaxNumber dropped,
EmailAddress and BankAccountDetails kept; the spec: the two *DefaultLineAmountType fields
kept. Dropped by the sandbox's choice (Xero's list is unpublished): everything else —
ContactPersons, ContactGroups, PaymentTerms, Balances, Discount, BrandingTheme, the tracking
categories and default account codes, Website, MergedToContactID, … (see README)."""

SCHEMA = Schema(
    "Contact",
    CONTACT_FIELDS,
    {},
    {"UpdatedDateUTC": updated_reader},
    field_types(
        CONTACT_FIELDS,
        numbers="Discount",
        booleans="IsSupplier IsCustomer HasAttachments HasValidationErrors",
        dates="UpdatedDateUTC",
        guids="ContactID MergedToContactID",
        untyped="""ContactPersons Addresses Phones SalesTrackingCategories
            PurchasesTrackingCategories PaymentTerms ContactGroups BrandingTheme BatchPayments
            Balances Attachments ValidationErrors""",
    ),
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_TYPES = ("DEFAULT", "DDI", "MOBILE", "FAX")
_ADDRESS_TYPES = ("POBOX", "STREET")
_TERM_TYPES = ("DAYSAFTERBILLDATE", "DAYSAFTERBILLMONTH", "OFCURRENTMONTH", "OFFOLLOWINGMONTH")


def render(record: Record) -> Record:
    out = public(record)
    out["HasValidationErrors"] = False
    return out


def _summary(record: Record) -> Record:
    return {k: v for k, v in render(record).items() if k in SUMMARY_FIELDS}


def list_contacts(ctx: Ctx) -> tuple[int, Record]:
    include_archived = ctx.flag("includeArchived")
    ids = id_list(ctx, "IDs")
    term = ctx.args.get("searchTerm", "").strip().lower()

    def base(record: Record) -> bool:
        if not include_archived and record.get("ContactStatus") == "ARCHIVED":
            return False
        if ids is not None and record["ContactID"] not in ids:
            return False
        if term:
            haystack = (
                record.get(f)
                for f in ("Name", "FirstName", "LastName", "ContactNumber", "EmailAddress")
            )
            return any(isinstance(h, str) and term in h.lower() for h in haystack)
        return True

    key = (include_archived, tuple(sorted(ids)) if ids else None, term)
    rows = query(ctx, ctx.tenant["Contacts"], SCHEMA, base=base, base_key=key)
    rows, pagination = page_of(ctx, rows)
    renderer = _summary if ctx.flag("summaryOnly") else render
    body: Record = {"Contacts": [renderer(r) for r in rows]}
    if pagination is not None:
        body["pagination"] = pagination
    return 200, body


def find(tenant: Tenant, key: str) -> Record | None:
    """By ContactID, else by ContactNumber (Xero's `/Contacts/{ContactNumber}`)."""
    record = tenant["Contacts"].get(key)
    if record is not None:
        return record
    found = tenant.indexes["contact_number"].get(key.lower())
    return tenant["Contacts"].get(found) if found else None


def get_contact(ctx: Ctx, key: str) -> tuple[int, Record]:
    record = find(ctx.tenant, key)
    if record is None:
        raise errors.not_found()
    return 200, {"Contacts": [render(record)]}


def write_contacts(
    ctx: Ctx, *, create_only: bool, path_id: str | None = None
) -> tuple[int, Record]:
    elements = elements_of(ctx.body, "Contacts")
    if path_id is not None:
        for element in elements:
            if isinstance(element, dict):
                element.setdefault("ContactID", path_id)

    def apply(element: Record) -> Record:
        return save(ctx, element, create_only=create_only)

    return run_batch(
        ctx,
        elements,
        "Contacts",
        apply,
        render,
        id_field="ContactID",
        error_flag="HasValidationErrors",
    )


def save(ctx: Ctx, element: Record, *, create_only: bool) -> Record:
    tenant = ctx.tenant
    contacts = tenant["Contacts"]
    existing: Record | None = None
    contact_id = element.get("ContactID")
    if contact_id:
        if create_only:
            raise ElementError(["A PUT request cannot be used to update an existing contact."])
        existing = contacts.get(str(contact_id))
        if existing is None:
            raise ElementError([f"The contact with ContactID {contact_id} could not be found."])
    changes = {k: v for k, v in element.items() if k in WRITABLE and v is not None}
    record: Record = (
        dict(existing)
        if existing
        else {
            "ContactID": new_id(),
            "ContactStatus": "ACTIVE",
            "Addresses": [{"AddressType": t} for t in _ADDRESS_TYPES],
            "Phones": [{"PhoneType": t} for t in _PHONE_TYPES],
            "ContactGroups": [],
            "ContactPersons": [],
            "IsSupplier": False,
            "IsCustomer": False,
            "HasAttachments": False,
        }
    )
    for key, value in changes.items():
        if key == "Addresses":
            record[key] = _merge_typed(record.get(key, []), value, "AddressType")
        elif key == "Phones":
            record[key] = _merge_typed(record.get(key, []), value, "PhoneType")
        else:
            record[key] = value
    messages = validate(tenant, record, existing is None)
    if messages:
        raise ElementError(messages)
    _normalise(tenant, record)
    ctx.stamp(record)
    store(tenant, record, existing)
    return record


def store(tenant: Tenant, record: Record, previous: Record | None) -> None:
    """Save and keep the name/number indexes in step."""
    names = tenant.indexes["contact_name"]
    numbers = tenant.indexes["contact_number"]
    if previous is not None:
        if names.get(_name_key(previous)) == previous["ContactID"]:
            names.pop(_name_key(previous), None)
        if previous.get("ContactNumber"):
            numbers.pop(str(previous["ContactNumber"]).lower(), None)
    if record.get("ContactStatus") == "ACTIVE":
        names[_name_key(record)] = record["ContactID"]
    if record.get("ContactNumber"):
        numbers[str(record["ContactNumber"]).lower()] = record["ContactID"]
    tenant["Contacts"].put(record)


def _name_key(record: Record) -> str:
    return str(record.get("Name", "")).strip().lower()


def _merge_typed(current: list[Any], incoming: Any, type_key: str) -> list[Any]:
    if not isinstance(incoming, list):
        return current
    merged = {str(c.get(type_key)): dict(c) for c in current if isinstance(c, dict)}
    for entry in incoming:
        if isinstance(entry, dict):
            key = str(entry.get(type_key, "DEFAULT" if type_key == "PhoneType" else "POBOX"))
            merged[key] = {**entry, type_key: key}
    return list(merged.values())


def _normalise(tenant: Tenant, record: Record) -> None:
    theme = record.get("BrandingTheme")
    if isinstance(theme, dict):
        found = validation.branding_theme(tenant, theme.get("BrandingThemeID"))
        if found is not None:
            record["BrandingTheme"] = {
                "BrandingThemeID": found["BrandingThemeID"],
                "Name": found["Name"],
            }


def validate(tenant: Tenant, record: Record, is_new: bool) -> list[str]:
    messages: list[str] = []
    name = record.get("Name")
    if not isinstance(name, str) or not name.strip():
        messages.append("The contact name must be specified.")
    for field_name, limit in (
        ("Name", 255),
        ("FirstName", 255),
        ("LastName", 255),
        ("EmailAddress", 255),
        ("ContactNumber", 50),
        ("AccountNumber", 50),
        ("CompanyNumber", 50),
        ("TaxNumber", 50),
        ("BankAccountDetails", 255),
    ):
        check_length(messages, record, field_name, limit)
    status = record.get("ContactStatus")
    if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
        messages.append(f"ContactStatus '{status}' is not valid.")
    email = record.get("EmailAddress")
    if email and (not isinstance(email, str) or not _EMAIL.match(email) or not email.isascii()):
        messages.append("Email address must be valid.")
    if isinstance(name, str) and name.strip() and status == "ACTIVE":
        holder = tenant.indexes["contact_name"].get(name.strip().lower())
        if holder is not None and holder != record["ContactID"]:
            messages.append(
                f"The contact name {name.strip()} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."
            )
    number = record.get("ContactNumber")
    if number:
        holder = tenant.indexes["contact_number"].get(str(number).lower())
        if holder is not None and holder != record["ContactID"]:
            messages.append(
                f"The contact number {number} is already assigned to another contact. "
                "The contact number must be unique across all contacts."
            )
    for key in ("AccountsReceivableTaxType", "AccountsPayableTaxType"):
        if record.get(key):
            err = validation.tax_type_error(tenant, record[key])
            if err:
                messages.append(err)
    for key in ("SalesDefaultAccountCode", "PurchasesDefaultAccountCode"):
        if record.get(key):
            err = validation.account_error(tenant, record[key])
            if err:
                messages.append(err)
    if record.get("DefaultCurrency"):
        err = validation.currency_error(tenant, record["DefaultCurrency"])
        if err:
            messages.append(err)
    theme = record.get("BrandingTheme")
    if theme is not None and (
        not isinstance(theme, dict)
        or validation.branding_theme(tenant, theme.get("BrandingThemeID")) is None
    ):
        messages.append("The BrandingThemeID is not valid for this organisation.")
    for key in ("SalesTrackingCategories", "PurchasesTrackingCategories"):
        for entry in record.get(key) or []:
            if not isinstance(entry, dict) or validation.tracking_option(tenant, entry) is None:
                shown = entry.get("TrackingCategoryName") if isinstance(entry, dict) else entry
                messages.append(f"The tracking category {shown} or its option does not exist.")
    terms = record.get("PaymentTerms")
    if terms is not None:
        messages.extend(_terms_errors(terms))
    for phone in record.get("Phones") or []:
        check_length(messages, phone, "PhoneNumber", 50)
        check_length(messages, phone, "PhoneAreaCode", 10)
        check_length(messages, phone, "PhoneCountryCode", 20)
    for address in record.get("Addresses") or []:
        for line in ("AddressLine1", "AddressLine2", "AddressLine3", "AddressLine4"):
            check_length(messages, address, line, 500)
        for key in ("City", "Region", "AttentionTo"):
            check_length(messages, address, key, 255)
        check_length(messages, address, "PostalCode", 50)
        check_length(messages, address, "Country", 50)
    if len(record.get("ContactPersons") or []) > 5:
        messages.append("A contact can have at most 5 contact persons.")
    return messages


def _terms_errors(terms: Any) -> list[str]:
    if not isinstance(terms, dict):
        return ["PaymentTerms is not valid."]
    messages: list[str] = []
    for side in ("Bills", "Sales"):
        term = terms.get(side)
        if term is None:
            continue
        day = term.get("Day") if isinstance(term, dict) else None
        kind = term.get("Type") if isinstance(term, dict) else None
        if not isinstance(day, int) or not 0 <= day <= 31:
            messages.append(f"PaymentTerms {side} Day must be between 0 and 31.")
        if kind not in _TERM_TYPES:
            messages.append(f"PaymentTerms {side} Type '{kind}' is not valid.")
    return messages


def admin_patch(ctx: Ctx, record: Record, fields: dict[str, Any]) -> Record:
    """An edit made in Xero's UI: any field, no API read-only rules."""
    updated = {**record, **fields}
    ctx.stamp(updated)
    store(ctx.tenant, updated, record)
    return updated
