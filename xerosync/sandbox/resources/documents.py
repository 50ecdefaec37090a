"""`/Invoices` and `/CreditNotes`: one implementation, two kinds of document.

Models Xero's rules from XERO_FACTS §11-12: sales numbers auto-generated and unique,
status transitions (DRAFT→SUBMITTED/AUTHORISED/DELETED, SUBMITTED→DRAFT/AUTHORISED/DELETED,
AUTHORISED→VOIDED, nothing out of PAID/VOIDED/DELETED), line-item update semantics (lines
with LineItemID are updated, new lines added, lines left out deleted), totals computed from
DiscountRate and the tax rate, line items only on paged lists and single GETs, stock moved
for tracked items when a document is approved or voided.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from xerosync.sandbox import errors, numbers, validation
from xerosync.sandbox.dates import (
    add_days,
    date_fields,
    parse_input_date,
    today,
)
from xerosync.sandbox.resources import contacts as contacts_mod
from xerosync.sandbox.resources import items as items_mod
from xerosync.sandbox.resources.common import (
    Ctx,
    ElementError,
    day_reader,
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

CENT = Decimal("0.01")


@dataclass(frozen=True)
class DocKind:
    collection: str
    id_field: str
    number_field: str
    sales_type: str
    purchase_type: str
    prefix: str
    index: str
    label: str
    discounts: bool
    fields: frozenset[str]


_COMMON = """Type Contact LineItems Date DueDate LineAmountTypes Reference BrandingThemeID
    CurrencyCode CurrencyRate Status SentToContact SubTotal TotalTax Total UpdatedDateUTC
    UpdatedDateUTCString FullyPaidOnDate Payments HasAttachments HasErrors
    StatusAttributeString ValidationErrors Warnings InvoiceAddresses CISDeduction CISRate"""

INVOICE = DocKind(
    "Invoices",
    "InvoiceID",
    "InvoiceNumber",
    "ACCREC",
    "ACCPAY",
    "INV",
    "invoice_number",
    "Invoice",
    True,
    fieldset(
        _COMMON
        + """ InvoiceNumber InvoiceID Url ExpectedPaymentDate
        PlannedPaymentDate TotalDiscount RepeatingInvoiceID IsDiscounted Prepayments
        Overpayments AmountDue AmountPaid AmountCredited CreditNotes Attachments"""
    ),
)
CREDIT_NOTE = DocKind(
    "CreditNotes",
    "CreditNoteID",
    "CreditNoteNumber",
    "ACCRECCREDIT",
    "ACCPAYCREDIT",
    "CN",
    "credit_note_number",
    "Credit Note",
    False,
    fieldset(
        _COMMON
        + """ CreditNoteID CreditNoteNumber RemainingCredit Allocations
        AppliedAmount"""
    ),
)

_TYPES = {
    kind.collection: field_types(
        kind.fields,
        numbers="""CurrencyRate SubTotal TotalTax Total TotalDiscount AmountDue AmountPaid
            AmountCredited CISDeduction CISRate RemainingCredit AppliedAmount""",
        booleans="SentToContact HasAttachments IsDiscounted HasErrors",
        dates="Date DueDate ExpectedPaymentDate PlannedPaymentDate FullyPaidOnDate UpdatedDateUTC",
        guids="InvoiceID CreditNoteID BrandingThemeID RepeatingInvoiceID",
        untyped="""Contact LineItems Payments Prepayments Overpayments CreditNotes Attachments
            Allocations ValidationErrors Warnings InvoiceAddresses""",
    )
    for kind in (INVOICE, CREDIT_NOTE)
}
"""Where-field types, from the spec's Invoice and CreditNote schemas."""

WRITABLE = fieldset(
    [
        "Type",
        "Contact",
        "LineItems",
        "Date",
        "DueDate",
        "LineAmountTypes",
        "Reference",
        "BrandingThemeID",
        "CurrencyCode",
        "CurrencyRate",
        "Status",
        "SentToContact",
        "ExpectedPaymentDate",
        "PlannedPaymentDate",
        "Url",
        "InvoiceNumber",
        "CreditNoteNumber",
    ]
)

TRANSITIONS = {
    "DRAFT": {"SUBMITTED", "AUTHORISED", "DELETED"},
    "SUBMITTED": {"DRAFT", "AUTHORISED", "DELETED"},
    "AUTHORISED": {"VOIDED"},
    "PAID": set(),
    "VOIDED": set(),
    "DELETED": set(),
}
POSTED = {"AUTHORISED", "PAID"}
RATES = {"AUD": 1.0, "USD": 0.65, "NZD": 1.09, "GBP": 0.52, "EUR": 0.6}


def schema(tenant: Tenant, kind: DocKind) -> Schema:
    """Where/order fields; `Contact.*` reads the live contact."""

    def contact_reader(record: Any) -> Any:
        return tenant["Contacts"].get(record.get("_contact_id", "")) or {
            "ContactID": record.get("_contact_id")
        }

    return Schema(
        kind.label.replace(" ", ""),
        kind.fields,
        {"Contact": contacts_mod.SCHEMA},
        {
            "UpdatedDateUTC": updated_reader,
            "Date": day_reader("_date"),
            "DueDate": day_reader("_due"),
            "Contact": contact_reader,
        },
        _TYPES[kind.collection],
    )


def contact_summary(tenant: Tenant, contact_id: str) -> Record:
    contact = tenant["Contacts"].get(contact_id)
    if contact is None:
        return {"ContactID": contact_id}
    out: Record = {"ContactID": contact["ContactID"], "Name": contact.get("Name")}
    for key in ("ContactNumber", "ContactStatus", "EmailAddress", "FirstName", "LastName"):
        if contact.get(key):
            out[key] = contact[key]
    out["HasValidationErrors"] = False
    return out


SUMMARY_DROPS = ("LineItems", "Payments", "CreditNotes", "Prepayments", "Overpayments")
"""What `summaryOnly=true` drops from an invoice: the line items (every source agrees they are
the heavy part; a list without `page` omits them too) and the payment/credit arrays computed
from other documents (the sandbox's choice: Xero publishes no list)."""


def render(
    tenant: Tenant, record: Record, *, with_lines: bool = True, summary: bool = False
) -> Record:
    out = public(record)
    out["Contact"] = contact_summary(tenant, record["_contact_id"])
    if not with_lines:
        out.pop("LineItems", None)
    if summary:
        for name in SUMMARY_DROPS:
            out.pop(name, None)
    return out


# -- reads ----------------------------------------------------------------------------------
def list_documents(ctx: Ctx, kind: DocKind) -> tuple[int, Record]:
    tenant = ctx.tenant
    ids = id_list(ctx, "IDs")
    numbers = id_list(ctx, "InvoiceNumbers") if kind is INVOICE else None
    contact_ids = id_list(ctx, "ContactIDs") if kind is INVOICE else None
    statuses = id_list(ctx, "Statuses") if kind is INVOICE else None
    mine = ctx.flag("createdByMyApp") if kind is INVOICE else False
    term = ctx.args.get("searchTerm", "").strip().lower() if kind is INVOICE else ""
    client = ctx.client_id

    def base(record: Record) -> bool:
        if ids is not None and record[kind.id_field] not in ids:
            return False
        if numbers is not None and str(record.get(kind.number_field, "")).lower() not in numbers:
            return False
        if contact_ids is not None and record["_contact_id"] not in contact_ids:
            return False
        if statuses is not None and str(record.get("Status", "")).lower() not in statuses:
            return False
        if mine and record.get("_created_by") != client:
            return False
        if term:
            return any(
                term in str(record.get(f) or "").lower() for f in (kind.number_field, "Reference")
            )
        return True

    key = (
        *(tuple(sorted(x)) if x else None for x in (ids, numbers, contact_ids, statuses)),
        client if mine else None,
        term,
    )
    rows = query(ctx, tenant[kind.collection], schema(tenant, kind), base=base, base_key=key)
    rows, pagination = page_of(ctx, rows)
    summary = kind is INVOICE and ctx.flag("summaryOnly")  # CreditNotes have no summaryOnly
    with_lines = pagination is not None and not summary
    body: Record = {
        kind.collection: [render(tenant, r, with_lines=with_lines, summary=summary) for r in rows]
    }
    if pagination is not None:
        body["pagination"] = pagination
    return 200, body


def find(tenant: Tenant, kind: DocKind, key: str) -> Record | None:
    record = tenant[kind.collection].get(key)
    if record is not None:
        return record
    found = tenant.indexes[kind.index].get(key.lower())
    return tenant[kind.collection].get(found) if found else None


def get_document(ctx: Ctx, kind: DocKind, key: str) -> tuple[int, Record]:
    record = find(ctx.tenant, kind, key)
    if record is None:
        raise errors.not_found()
    return 200, {kind.collection: [render(ctx.tenant, record)]}


# -- writes ---------------------------------------------------------------------------------
def write_documents(
    ctx: Ctx, kind: DocKind, *, create_only: bool, path_id: str | None = None
) -> tuple[int, Record]:
    elements = elements_of(ctx.body, kind.collection)
    if path_id is not None:
        for element in elements:
            if isinstance(element, dict):
                element.setdefault(kind.id_field, path_id)

    def apply(element: Record) -> Record:
        return save(ctx, kind, element, create_only=create_only)

    return run_batch(
        ctx,
        elements,
        kind.collection,
        apply,
        lambda r: render(ctx.tenant, r),
        id_field=kind.id_field,
        error_flag="HasErrors",
    )


def save(ctx: Ctx, kind: DocKind, element: Record, *, create_only: bool) -> Record:
    tenant = ctx.tenant
    existing: Record | None = None
    if element.get(kind.id_field):
        if create_only:
            raise ElementError(
                [f"A PUT request cannot be used to update an existing {kind.label.lower()}."]
            )
        existing = tenant[kind.collection].get(str(element[kind.id_field]))
        if existing is None:
            raise ElementError(
                [f"{kind.label} with {kind.id_field} {element[kind.id_field]} could not be found."]
            )
    messages: list[str] = []
    record: Record
    if existing is None:
        record = {
            kind.id_field: new_id(),
            "Status": "DRAFT",
            "LineAmountTypes": "Exclusive",
            "LineItems": [],
            "HasAttachments": False,
            "HasErrors": False,
            "SentToContact": False,
            "Payments": [],
            "AmountPaid": 0.0,
            "AmountCredited": 0.0,
            "_created_by": ctx.client_id,
            "_has_utc_string": True,
        }
        if kind is INVOICE:
            record.update(
                {"Prepayments": [], "Overpayments": [], "CreditNotes": [], "IsDiscounted": False}
            )
        else:
            record.update({"Allocations": []})
        doc_type = element.get("Type")
        if doc_type not in (kind.sales_type, kind.purchase_type):
            raise ElementError(
                [f"{kind.label} Type must be {kind.sales_type} or {kind.purchase_type}."]
            )
        record["Type"] = doc_type
    else:
        record = dict(existing)
        old = existing["Status"]
        if old in ("PAID", "VOIDED", "DELETED"):
            raise ElementError([f"{kind.label} not of valid status for modification"])

    old_status = existing["Status"] if existing else None
    new_status = element.get("Status", old_status or "DRAFT")
    if existing is None:
        if new_status not in ("DRAFT", "SUBMITTED", "AUTHORISED"):
            messages.append(
                f"{kind.label} Status '{new_status}' cannot be used to create a "
                f"{kind.label.lower()}."
            )
    elif new_status != old_status and new_status not in TRANSITIONS.get(old_status or "", set()):
        messages.append(f"{kind.label} status cannot be changed from {old_status} to {new_status}.")
    record["Status"] = new_status

    for key, value in element.items():
        if (
            value is not None
            and key in WRITABLE
            and key
            not in (
                "Contact",
                "LineItems",
                "Date",
                "DueDate",
                "Type",
                "Status",
            )
        ):
            record[key] = value

    contact = _resolve_contact(ctx, element, record, existing, messages)
    _dates(ctx, element, record, contact, kind, messages)
    _currency(tenant, record, contact, existing is None, messages)
    _branding(tenant, record, contact, existing is None, messages)
    if record.get("LineAmountTypes") not in ("Exclusive", "Inclusive", "NoTax"):
        messages.append(f"LineAmountTypes '{record.get('LineAmountTypes')}' is not valid.")
    _number(ctx, kind, record, existing, messages)
    if isinstance(record.get("Reference"), str) and len(record["Reference"]) > 255:
        messages.append("Reference must not be more than 255 characters long.")

    unitdp = 4 if ctx.args.get("unitdp") == "4" else 2
    if "LineItems" in element or existing is None:
        record["LineItems"] = _lines(
            ctx, kind, element.get("LineItems"), record, contact, existing, unitdp, messages
        )
    if not record["LineItems"]:
        messages.append(f"{kind.label} must have at least one line item.")
    if messages:
        raise ElementError(messages)
    apply_rates(tenant, record)
    _totals(record, kind)
    if new_status == "VOIDED" and float(record.get("AmountPaid") or 0) > 0:
        raise ElementError([f"{kind.label} cannot be voided because it has payments applied."])
    _move_stock(ctx, kind, existing, record)
    ctx.stamp(record)
    store(tenant, kind, record, existing)
    if (
        contact is not None
        and contact.get("IsCustomer" if _is_sales(kind, record) else "IsSupplier") is not True
    ):
        # Xero flips these without bumping the contact's UpdatedDateUTC (an IMS blind spot).
        contact["IsCustomer" if _is_sales(kind, record) else "IsSupplier"] = True
        tenant["Contacts"].touch_in_place()
    return record


def store(tenant: Tenant, kind: DocKind, record: Record, previous: Record | None) -> None:
    index = tenant.indexes[kind.index]
    if previous is not None and previous.get(kind.number_field):
        key = str(previous[kind.number_field]).lower()
        if index.get(key) == previous[kind.id_field]:
            index.pop(key, None)
    if record.get(kind.number_field) and _is_sales(kind, record):
        index[str(record[kind.number_field]).lower()] = record[kind.id_field]
    tenant[kind.collection].put(record)


def _is_sales(kind: DocKind, record: Record) -> bool:
    return bool(record.get("Type") == kind.sales_type)


def _resolve_contact(
    ctx: Ctx, element: Record, record: Record, existing: Record | None, messages: list[str]
) -> Record | None:
    tenant = ctx.tenant
    given = element.get("Contact")
    if given is None:
        if existing is not None:
            return tenant["Contacts"].get(existing["_contact_id"])
        messages.append("A Contact must be specified for this type of transaction")
        return None
    if not isinstance(given, dict):
        messages.append("Contact is not valid.")
        return None
    contact: Record | None = None
    if given.get("ContactID"):
        contact = tenant["Contacts"].get(str(given["ContactID"]))
        if contact is None:
            messages.append(f"The contact with ContactID {given['ContactID']} could not be found.")
            return None
    elif given.get("ContactNumber"):
        contact = contacts_mod.find(tenant, str(given["ContactNumber"]))
    if contact is None and given.get("Name"):
        holder = tenant.indexes["contact_name"].get(str(given["Name"]).strip().lower())
        contact = tenant["Contacts"].get(holder) if holder else None
        if contact is None:
            try:
                contact = contacts_mod.save(ctx, {"Name": given["Name"]}, create_only=True)
            except Exception as exc:  # an ElementError from the contact rules
                messages.extend(getattr(exc, "messages", [str(exc)]))
                return None
    if contact is None:
        messages.append("A Contact must be specified for this type of transaction")
        return None
    changed = existing is None or existing["_contact_id"] != contact["ContactID"]
    if changed and contact.get("ContactStatus") == "ARCHIVED":
        messages.append(
            f"The contact {contact.get('Name')} has been archived. Archived contacts cannot be "
            "used on new transactions; restore the contact first."
        )
    record["_contact_id"] = contact["ContactID"]
    return contact


def _dates(
    ctx: Ctx,
    element: Record,
    record: Record,
    contact: Record | None,
    kind: DocKind,
    messages: list[str],
) -> None:
    for key, private in (("Date", "_date"), ("DueDate", "_due")):
        if key in element and element[key] not in (None, ""):
            try:
                record[private] = parse_input_date(element[key])
            except ValueError:
                messages.append(f"{key} '{element[key]}' is not a valid date.")
    if not record.get("_date"):
        record["_date"] = today(ctx.now)
    if kind is INVOICE and not record.get("_due") and record.get("Type") == "ACCREC":
        record["_due"] = _due_from_terms(ctx.tenant, contact, record["_date"])
    record.update(date_fields(record.get("_date"), "Date"))
    record.update(date_fields(record.get("_due"), "DueDate"))


def _due_from_terms(tenant: Tenant, contact: Record | None, day: str) -> str | None:
    terms = ((contact or {}).get("PaymentTerms") or {}).get("Sales") or (
        (tenant.organisation.get("PaymentTerms") or {}).get("Sales")
    )
    if not isinstance(terms, dict):
        return None
    n = int(terms.get("Day") or 0)
    kind = terms.get("Type")
    year, month = int(day[:4]), int(day[5:7])
    if kind == "DAYSAFTERBILLDATE":
        return add_days(day, n)
    if kind == "OFCURRENTMONTH":
        return _clamp(year, month, n)
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    if kind == "OFFOLLOWINGMONTH":
        return _clamp(next_year, next_month, n)
    if kind == "DAYSAFTERBILLMONTH":
        return add_days(f"{next_year:04d}-{next_month:02d}-01", n - 1)
    return None


def _clamp(year: int, month: int, day: int) -> str:
    import calendar

    last = calendar.monthrange(year, month)[1]
    return f"{year:04d}-{month:02d}-{max(1, min(day, last)):02d}"


def _currency(
    tenant: Tenant, record: Record, contact: Record | None, is_new: bool, messages: list[str]
) -> None:
    base = tenant.organisation.get("BaseCurrency", "AUD")
    if not record.get("CurrencyCode"):
        record["CurrencyCode"] = (contact or {}).get("DefaultCurrency") or base
    err = validation.currency_error(tenant, record["CurrencyCode"])
    if err:
        messages.append(err)
        return
    if record["CurrencyCode"] == base:
        record["CurrencyRate"] = 1.0
    elif not record.get("CurrencyRate"):
        record["CurrencyRate"] = RATES.get(record["CurrencyCode"], 1.0)


def _branding(
    tenant: Tenant, record: Record, contact: Record | None, is_new: bool, messages: list[str]
) -> None:
    theme_id = record.get("BrandingThemeID")
    if theme_id:
        if validation.branding_theme(tenant, theme_id) is None:
            messages.append("The BrandingThemeID is not valid for this organisation.")
        return
    if is_new:
        theme = (contact or {}).get("BrandingTheme") or {}
        if theme.get("BrandingThemeID"):
            record["BrandingThemeID"] = theme["BrandingThemeID"]
        else:
            themes = sorted(tenant["BrandingThemes"], key=lambda t: t.get("SortOrder", 0))
            if themes:
                record["BrandingThemeID"] = themes[0]["BrandingThemeID"]


def _number(
    ctx: Ctx, kind: DocKind, record: Record, existing: Record | None, messages: list[str]
) -> None:
    tenant = ctx.tenant
    number = record.get(kind.number_field)
    if number is not None and not isinstance(number, str):
        number = record[kind.number_field] = str(number)
    if number and len(number) > 255:
        messages.append(f"{kind.number_field} must not be more than 255 characters long.")
    if not _is_sales(kind, record):
        return
    index = tenant.indexes[kind.index]
    if number:
        holder = index.get(number.lower())
        if holder is not None and holder != record[kind.id_field]:
            messages.append(
                "Invoice # must be unique." if kind is INVOICE else "Credit Note # must be unique."
            )
    elif existing is None or not existing.get(kind.number_field):
        record[kind.number_field] = tenant.next_number(kind.prefix, lambda n: n.lower() in index)


def _num(value: Any, default: str) -> Decimal | None:
    if value is None:
        return Decimal(default)
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _lines(
    ctx: Ctx,
    kind: DocKind,
    given: Any,
    record: Record,
    contact: Record | None,
    existing: Record | None,
    unitdp: int,
    messages: list[str],
) -> list[Record]:
    tenant = ctx.tenant
    if given is None:
        return [] if existing is None else list(existing.get("LineItems") or [])
    if not isinstance(given, list):
        messages.append("LineItems must be an array.")
        return []
    current = {li["LineItemID"]: li for li in (existing or {}).get("LineItems") or []}
    sales = _is_sales(kind, record)
    draft = record["Status"] == "DRAFT"
    result: list[Record] = []
    for raw in given:
        if not isinstance(raw, dict):
            messages.append("Line item is not valid.")
            continue
        prior = current.get(str(raw.get("LineItemID", "")).lower())
        line: Record = dict(prior) if prior else {"LineItemID": new_id(), "Tracking": []}
        for key in (
            "Description",
            "Quantity",
            "UnitAmount",
            "ItemCode",
            "AccountCode",
            "TaxType",
            "DiscountRate",
            "DiscountAmount",
            "Tracking",
        ):
            if key in raw:
                line[key] = raw[key]
        item: Record | None = None
        if line.get("ItemCode"):
            item = items_mod.find(tenant, str(line["ItemCode"]))
            if item is None or item.get("Code") != line["ItemCode"]:
                messages.append(f"Item code '{line['ItemCode']}' is not valid.")
                item = None
            else:
                details = item.get("SalesDetails" if sales else "PurchaseDetails") or {}
                if not line.get("Description"):
                    line["Description"] = item.get(
                        "Description" if sales else "PurchaseDescription"
                    ) or item.get("Name")
                if line.get("UnitAmount") is None and details.get("UnitPrice") is not None:
                    line["UnitAmount"] = details["UnitPrice"]
                if not line.get("AccountCode"):
                    default = (
                        details.get("COGSAccountCode")
                        if (not sales and item.get("IsTrackedAsInventory"))
                        else None
                    )
                    if item.get("IsTrackedAsInventory") and not sales:
                        default = item.get("InventoryAssetAccountCode")
                    line["AccountCode"] = details.get("AccountCode") or default
                if not line.get("TaxType") and details.get("TaxType"):
                    line["TaxType"] = details["TaxType"]
                line["Item"] = {
                    "ItemID": item["ItemID"],
                    "Name": item.get("Name") or "",
                    "Code": item["Code"],
                }
        else:
            line.pop("Item", None)
        if not line.get("AccountCode") and contact is not None:
            line["AccountCode"] = contact.get(
                "SalesDefaultAccountCode" if sales else "PurchasesDefaultAccountCode"
            )
        if not str(line.get("Description") or "").strip() and item is None:
            messages.append("Description must be specified on every line item.")
        if isinstance(line.get("Description"), str) and len(line["Description"]) > 4000:
            messages.append("Description must not be more than 4000 characters long.")
        qty = _num(line.get("Quantity"), "1")
        unit = _num(line.get("UnitAmount"), "0")
        if qty is None or unit is None:
            messages.append("Quantity and UnitAmount must be numbers.")
            continue
        if not (qty.is_finite() and unit.is_finite()) or abs(qty * unit) >= numbers.LIMIT:
            messages.append(numbers.too_large("LineAmount"))
            continue
        unit = unit.quantize(Decimal(1).scaleb(-unitdp), ROUND_HALF_UP)
        line["Quantity"] = float(qty)
        line["UnitAmount"] = float(unit)
        acct: Record | None = None
        if line.get("AccountCode"):
            acct = validation.account(tenant, line["AccountCode"])
            if acct is None:
                messages.append(
                    f"Account code '{line['AccountCode']}' is not a valid code for this document."
                )
            else:
                line["AccountID"] = acct["AccountID"]
        elif not draft and unit * qty != 0:
            messages.append("Account code must be specified for every line item.")
        if not line.get("TaxType"):
            line["TaxType"] = (
                (acct or {}).get("TaxType")
                or (contact or {}).get(
                    "AccountsReceivableTaxType" if sales else "AccountsPayableTaxType"
                )
                or "NONE"
            )
        err = validation.tax_type_error(tenant, line["TaxType"])
        if err:
            messages.append(err)
        discount = line.get("DiscountRate")
        if discount not in (None, 0) or line.get("DiscountAmount") not in (None, 0):
            if not kind.discounts:
                messages.append("Discounts are not supported on credit notes.")
            elif not sales:
                messages.append("Discounts can only be applied to sales invoices.")
            elif _num(discount, "0") is None or not 0 <= (_num(discount, "0") or 0) <= 100:
                messages.append("DiscountRate must be between 0 and 100.")
        tracking = line.get("Tracking") or []
        if not isinstance(tracking, list) or len(tracking) > 2:
            messages.append("A line item can have at most 2 tracking categories.")
            tracking = []
        resolved = []
        for entry in tracking:
            found = validation.tracking_option(tenant, entry) if isinstance(entry, dict) else None
            if found is None:
                shown = entry.get("Name") if isinstance(entry, dict) else entry
                messages.append(f"The tracking category {shown} or its option does not exist.")
                continue
            cat, option = found
            resolved.append(
                {
                    "TrackingCategoryID": cat["TrackingCategoryID"],
                    "TrackingOptionID": option["TrackingOptionID"],
                    "Name": cat["Name"],
                    "Option": option["Name"],
                }
            )
        line["Tracking"] = resolved
        result.append({k: v for k, v in line.items() if v is not None})
    return result


def _totals(record: Record, kind: DocKind) -> None:
    mode = record.get("LineAmountTypes", "Exclusive")
    sub = tax_total = discount_total = Decimal(0)
    rates: dict[str, Decimal] = record.pop("_rates", {}) or {}
    for line in record["LineItems"]:
        qty = Decimal(str(line["Quantity"]))
        unit = Decimal(str(line["UnitAmount"]))
        gross = qty * unit
        amount = gross
        if line.get("DiscountRate"):
            amount = gross * (Decimal(100) - Decimal(str(line["DiscountRate"]))) / Decimal(100)
        elif line.get("DiscountAmount"):
            amount = gross - Decimal(str(line["DiscountAmount"]))
        amount = amount.quantize(CENT, ROUND_HALF_UP)
        rate = rates.get(line["TaxType"], Decimal(str(line.get("_rate", 0))))
        if mode == "NoTax":
            tax = Decimal(0)
        elif mode == "Inclusive":
            tax = (amount * rate / (Decimal(100) + rate)).quantize(CENT, ROUND_HALF_UP)
        else:
            tax = (amount * rate / Decimal(100)).quantize(CENT, ROUND_HALF_UP)
        line["LineAmount"] = float(amount)
        line["TaxAmount"] = float(tax)
        sub += amount - tax if mode == "Inclusive" else amount
        tax_total += tax
        discount_total += gross.quantize(CENT, ROUND_HALF_UP) - amount
    total = sub + tax_total
    record["SubTotal"] = float(sub)
    record["TotalTax"] = float(tax_total)
    record["Total"] = float(total)
    paid = Decimal(str(record.get("AmountPaid") or 0))
    credited = Decimal(str(record.get("AmountCredited") or 0))
    if kind is INVOICE:
        record["TotalDiscount"] = float(discount_total)
        record["AmountDue"] = float(total - paid - credited)
        record["IsDiscounted"] = discount_total != 0
    else:
        record["RemainingCredit"] = (
            float(total - paid - credited) if (record["Status"] in POSTED) else float(total)
        )


def apply_rates(tenant: Tenant, record: Record) -> None:
    """Remember each line's tax rate (percent) for `_totals`."""
    rates: dict[str, Decimal] = {}
    for line in record["LineItems"]:
        rate_record = validation.tax_rate(tenant, line.get("TaxType"))
        rates[line.get("TaxType", "")] = Decimal(str((rate_record or {}).get("EffectiveRate", 0)))
    record["_rates"] = rates


def _stock_sign(kind: DocKind, record: Record) -> int:
    # sales invoices and purchase credits take stock out; bills and sales credits put it back
    out = record["Type"] in ("ACCREC", "ACCPAYCREDIT")
    return -1 if out else 1


def _stock_moves(tenant: Tenant, kind: DocKind, record: Record | None) -> dict[str, Decimal]:
    if record is None or record.get("Status") not in POSTED:
        return {}
    moves: dict[str, Decimal] = {}
    sign = _stock_sign(kind, record)
    for line in record.get("LineItems") or []:
        item_ref = line.get("Item")
        if not item_ref:
            continue
        item = tenant["Items"].get(item_ref["ItemID"])
        if item is None or not item.get("IsTrackedAsInventory"):
            continue
        moves[item["ItemID"]] = moves.get(item["ItemID"], Decimal(0)) + sign * Decimal(
            str(line["Quantity"])
        )
    return moves


def _move_stock(ctx: Ctx, kind: DocKind, before: Record | None, after: Record) -> None:
    tenant = ctx.tenant
    old = _stock_moves(tenant, kind, before)
    new = _stock_moves(tenant, kind, after)
    delta = {k: new.get(k, Decimal(0)) - old.get(k, Decimal(0)) for k in set(old) | set(new)}
    delta = {k: v for k, v in delta.items() if v != 0}
    problems = []
    for item_id, change in delta.items():
        item = tenant["Items"].get(item_id)
        if item is None:
            continue
        on_hand = Decimal(str(item.get("QuantityOnHand") or 0))
        if change < 0 and on_hand + change < 0:
            problems.append(
                f"The quantity on hand for item {item['Code']} would fall below zero; "
                f"{on_hand} available."
            )
    if problems:
        raise ElementError(problems)
    for item_id, change in delta.items():
        item = tenant["Items"].get(item_id)
        if item is None:
            continue
        updated = dict(item)
        updated["QuantityOnHand"] = float(Decimal(str(item.get("QuantityOnHand") or 0)) + change)
        updated["_used"] = True
        ctx.stamp(updated)
        items_mod.store(tenant, updated, item)


def admin_patch(ctx: Ctx, kind: DocKind, record: Record, fields: dict[str, Any]) -> Record:
    """An edit made in Xero's UI: any field, no transition rules (e.g. mark PAID)."""
    updated = {**record, **fields}
    if "Contact" in fields and isinstance(fields["Contact"], dict):
        updated["_contact_id"] = str(fields["Contact"].get("ContactID", record["_contact_id"]))
        updated.pop("Contact", None)
    for key, private in (("Date", "_date"), ("DueDate", "_due")):
        if key in fields:
            updated[private] = parse_input_date(fields[key])
            updated.update(date_fields(updated[private], key))
    if fields.get("Status") == "PAID" and "AmountPaid" not in fields:
        updated["AmountPaid"] = updated.get("Total", 0.0)
        updated.update(date_fields(today(ctx.now), "FullyPaidOnDate"))
    apply_rates(ctx.tenant, updated)
    _totals(updated, kind)
    _move_stock(ctx, kind, record, updated)
    ctx.stamp(updated)
    store(ctx.tenant, kind, updated, record)
    return updated
