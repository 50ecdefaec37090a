"""Fast synthetic data for benchmarks: many valid contacts, items, invoices and credit notes.

Records are built directly (not through validation) in the shape the write path produces, so
100k invoices with lines take seconds. UpdatedDateUTC values are spread a little after the
newest existing record, keeping each collection in UpdatedDateUTC order.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from xerosync.sandbox.dates import add_days, date_fields, iso_from_ms, msdate, today
from xerosync.sandbox.resources import contacts, items
from xerosync.sandbox.store import Record, Tenant

MAX_PER_CALL = 1_000_000


def generate(tenant: Tenant, now: float, counts: dict[str, Any]) -> dict[str, int]:
    wanted = {k: int(v) for k, v in counts.items()}
    for key, value in wanted.items():
        if key not in ("Contacts", "Items", "Invoices", "CreditNotes"):
            raise ValueError(f"bulk supports Contacts, Items, Invoices, CreditNotes; not {key}")
        if not 0 <= value <= MAX_PER_CALL:
            raise ValueError(f"{key}: between 0 and {MAX_PER_CALL}")
    rng = random.Random(len(tenant["Invoices"]) + len(tenant["Contacts"]))
    clock = _Stamper(tenant, int(now * 1000))
    made: dict[str, int] = {}
    if wanted.get("Contacts"):
        made["Contacts"] = _contacts(tenant, wanted["Contacts"], clock)
    if wanted.get("Items"):
        made["Items"] = _items(tenant, wanted["Items"], clock)
    day = today(now)
    if wanted.get("Invoices"):
        made["Invoices"] = _documents(tenant, wanted["Invoices"], clock, rng, day, invoice=True)
    if wanted.get("CreditNotes"):
        made["CreditNotes"] = _documents(
            tenant, wanted["CreditNotes"], clock, rng, day, invoice=False
        )
    return made


class _Stamper:
    """Strictly ordered timestamps: up to 100 records share a millisecond."""

    def __init__(self, tenant: Tenant, now_ms: int) -> None:
        self.tenant = tenant
        self.base = max(now_ms, tenant.last_ms)
        self.n = 0

    def __call__(self, record: Record, utc_string: bool = False) -> None:
        ms = self.base + self.n // 100
        self.n += 1
        self.tenant.last_ms = max(self.tenant.last_ms, ms)
        record["_updated_ms"] = ms
        record["UpdatedDateUTC"] = msdate(ms)
        if utc_string:
            record["UpdatedDateUTCString"] = iso_from_ms(ms)


def _contacts(tenant: Tenant, n: int, stamp: _Stamper) -> int:
    start = len(tenant["Contacts"])
    for i in range(n):
        number = start + i + 1
        record: Record = {
            "ContactID": str(uuid.uuid4()),
            "ContactStatus": "ACTIVE",
            "Name": f"Bulk Customer {number:06d}",
            "ContactNumber": f"BULK-{number:06d}",
            "EmailAddress": f"customer{number}@bulk.example",
            "Addresses": [{"AddressType": "POBOX"}, {"AddressType": "STREET"}],
            "Phones": [{"PhoneType": t} for t in ("DEFAULT", "DDI", "MOBILE", "FAX")],
            "ContactGroups": [],
            "ContactPersons": [],
            "IsSupplier": False,
            "IsCustomer": True,
            "HasAttachments": False,
            "DefaultCurrency": "AUD",
        }
        stamp(record)
        contacts.store(tenant, record, None)
    return n


def _items(tenant: Tenant, n: int, stamp: _Stamper) -> int:
    start = len(tenant["Items"])
    for i in range(n):
        number = start + i + 1
        record: Record = {
            "ItemID": str(uuid.uuid4()),
            "Code": f"BULK-{number:06d}",
            "Name": f"Bulk product {number}",
            "Description": f"Bulk product {number}",
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
            "SalesDetails": {
                "UnitPrice": float(10 + number % 90),
                "AccountCode": "200",
                "TaxType": "OUTPUT",
            },
            "PurchaseDetails": {"UnitPrice": 5.0, "AccountCode": "300", "TaxType": "INPUT"},
            "_used": False,
        }
        stamp(record)
        items.store(tenant, record, None)
    return n


def _documents(
    tenant: Tenant, n: int, stamp: _Stamper, rng: random.Random, day: str, *, invoice: bool
) -> int:
    contact_ids = [c["ContactID"] for c in tenant["Contacts"] if c.get("ContactStatus") == "ACTIVE"]
    if not contact_ids:
        raise ValueError("bulk documents need at least one active contact")
    collection = tenant["Invoices" if invoice else "CreditNotes"]
    index = tenant.indexes["invoice_number" if invoice else "credit_note_number"]
    id_field = "InvoiceID" if invoice else "CreditNoteID"
    number_field = "InvoiceNumber" if invoice else "CreditNoteNumber"
    prefix = "INV" if invoice else "CN"
    statuses = ["AUTHORISED"] * 5 + ["DRAFT"] * 2 + ["PAID"] * 2 + ["VOIDED"]
    theme = next(iter(tenant["BrandingThemes"]), {}).get("BrandingThemeID")
    for _ in range(n):
        sales = rng.random() < 0.9
        if invoice:
            doc_type = "ACCREC" if sales else "ACCPAY"
        else:
            doc_type = "ACCRECCREDIT" if sales else "ACCPAYCREDIT"
        status = rng.choice(statuses)
        doc_date = add_days(day, -rng.randrange(0, 720))
        lines = []
        sub = tax = 0.0
        for k in range(2):
            qty = float(rng.randrange(1, 10))
            unit = float(rng.randrange(100, 100000)) / 100
            amount = round(qty * unit, 2)
            line_tax = round(amount * 0.1, 2)
            sub += amount
            tax += line_tax
            lines.append(
                {
                    "LineItemID": str(uuid.uuid4()),
                    "Description": f"Line {k + 1}",
                    "Quantity": qty,
                    "UnitAmount": unit,
                    "AccountCode": "200" if sales else "300",
                    "TaxType": "OUTPUT" if sales else "INPUT",
                    "TaxAmount": line_tax,
                    "LineAmount": amount,
                    "Tracking": [],
                }
            )
        total = round(sub + tax, 2)
        paid = total if status == "PAID" else 0.0
        record: Record = {
            id_field: str(uuid.uuid4()),
            "Type": doc_type,
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": lines,
            "HasAttachments": False,
            "HasErrors": False,
            "SentToContact": False,
            "Payments": [],
            "CurrencyCode": "AUD",
            "CurrencyRate": 1.0,
            "SubTotal": round(sub, 2),
            "TotalTax": round(tax, 2),
            "Total": total,
            "AmountPaid": paid,
            "AmountCredited": 0.0,
            "_contact_id": rng.choice(contact_ids),
            "_date": doc_date,
            "_created_by": "xero-web-ui",
            "_has_utc_string": True,
            **date_fields(doc_date, "Date"),
        }
        if theme:
            record["BrandingThemeID"] = theme
        if invoice:
            due = add_days(doc_date, 30)
            record.update(
                {
                    "_due": due,
                    **date_fields(due, "DueDate"),
                    "AmountDue": round(total - paid, 2),
                    "TotalDiscount": 0.0,
                    "IsDiscounted": False,
                    "Prepayments": [],
                    "Overpayments": [],
                    "CreditNotes": [],
                }
            )
        else:
            record.update({"RemainingCredit": round(total - paid, 2), "Allocations": []})
        if sales:
            number = tenant.next_number(prefix, lambda x: x.lower() in index)
            record[number_field] = number
            index[number.lower()] = record[id_field]
        else:
            record[number_field] = f"BILL-{rng.randrange(10**6):06d}"
        stamp(record, utc_string=True)
        collection.records[record[id_field]] = record
    collection.version += 1
    return n
