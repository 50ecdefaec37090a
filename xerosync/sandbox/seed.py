"""The seeded "Demo Company": an Australian-style organisation (AUD, GST tax types).

Settings (accounts, tax rates, currencies, branding themes, tracking categories) have stable
ids. Contacts, items and documents are created through the same code paths as API writes, so
the seed obeys every rule a client's writes do; statuses the API cannot set (PAID, stock on
hand, a contact's Discount) are applied as edits "made in Xero's UI".
"""

from __future__ import annotations

import uuid
from typing import Any

from werkzeug.datastructures import MultiDict

from xerosync.sandbox.config import SandboxConfig
from xerosync.sandbox.dates import add_days, msdate, today
from xerosync.sandbox.resources import contacts, documents, items
from xerosync.sandbox.resources.common import Ctx
from xerosync.sandbox.store import Record, Tenant

SEED_CLIENT = "xero-web-ui"
_NS = uuid.UUID("0b9c5f0e-3d1a-4b7e-8f00-5a4d2c1b0e99")

ACCOUNTS: list[tuple[str, str, str, str]] = [
    ("090", "Business Bank Account", "BANK", "BASEXCLUDED"),
    ("200", "Sales", "REVENUE", "OUTPUT"),
    ("260", "Other Revenue", "REVENUE", "OUTPUT"),
    ("270", "Interest Income", "REVENUE", "INPUTTAXED"),
    ("300", "Purchases", "DIRECTCOSTS", "INPUT"),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT"),
    ("400", "Advertising", "EXPENSE", "INPUT"),
    ("404", "Bank Fees", "EXPENSE", "EXEMPTEXPENSES"),
    ("429", "General Expenses", "EXPENSE", "INPUT"),
    ("610", "Accounts Receivable", "CURRENT", "BASEXCLUDED"),
    ("630", "Inventory", "INVENTORY", "BASEXCLUDED"),
    ("710", "Office Equipment", "FIXED", "INPUT"),
    ("800", "Accounts Payable", "CURRLIAB", "BASEXCLUDED"),
    ("820", "GST", "CURRLIAB", "BASEXCLUDED"),
    ("970", "Owner A Funds Introduced", "EQUITY", "BASEXCLUDED"),
]
_CLASS = {
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
    "OTHERINCOME": "REVENUE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "INVENTORY": "ASSET",
    "FIXED": "ASSET",
    "CURRLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
}
_SYSTEM = {"610": "DEBTORS", "800": "CREDITORS", "820": "GST"}

TAX_RATES: list[tuple[str, str, float]] = [
    ("OUTPUT", "GST on Income", 10.0),
    ("INPUT", "GST on Expenses", 10.0),
    ("EXEMPTOUTPUT", "GST Free Income", 0.0),
    ("EXEMPTEXPENSES", "GST Free Expenses", 0.0),
    ("EXEMPTEXPORT", "GST Free Exports", 0.0),
    ("EXEMPTCAPITAL", "GST Free Capital", 0.0),
    ("CAPEXINPUT", "GST on Capital", 10.0),
    ("GSTONIMPORTS", "GST on Imports", 0.0),
    ("INPUTTAXED", "Input Taxed", 0.0),
    ("BASEXCLUDED", "BAS Excluded", 0.0),
    ("NONE", "No GST", 0.0),
]
CURRENCIES = [
    ("AUD", "Australian Dollar"),
    ("USD", "United States Dollar"),
    ("NZD", "New Zealand Dollar"),
    ("GBP", "Great British Pound"),
    ("EUR", "Euro"),
]
BRANDING_THEMES = ["Standard", "Special Projects", "Very orange invoice!"]
TRACKING = {"Region": ["North", "South", "East", "West"], "Salesperson": ["Alice", "Bob"]}


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


def seed_tenant(tenant: Tenant, now: float, *, full: bool) -> None:
    """Settings always; contacts, items and documents only for the "demo" seed."""
    _settings(tenant, now)
    if full:
        _demo_data(tenant, now)


def seed_ctx(tenant: Tenant, now: float) -> Ctx:
    return Ctx(
        tenant=tenant,
        client_id=SEED_CLIENT,
        now=now,
        config=SandboxConfig(),
        args=MultiDict(),
        headers={},
    )


def _settings(tenant: Tenant, now: float) -> None:
    ms = int(now * 1000)
    tid = tenant.tenant_id
    tenant.organisation = {
        "OrganisationID": tid,
        "APIKey": stable_id(tid, "apikey").replace("-", "")[:30].upper(),
        "Name": tenant.name,
        "LegalName": f"{tenant.name} Pty Ltd",
        "PaysTax": True,
        "Version": "AU",
        "OrganisationType": "COMPANY",
        "BaseCurrency": "AUD",
        "CountryCode": "AU",
        "IsDemoCompany": True,
        "OrganisationStatus": "ACTIVE",
        "TaxNumber": "101-2-303",
        "FinancialYearEndDay": 30,
        "FinancialYearEndMonth": 6,
        "SalesTaxBasis": "ACCRUALS",
        "SalesTaxPeriod": "QUARTERLY1",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": msdate(ms),
        "Timezone": "AUSEASTERNSTANDARDTIME",
        "OrganisationEntityType": "COMPANY",
        "ShortCode": "!sbx01",
        "Class": "DEMO",
        "Edition": "BUSINESS",
        "LineOfBusiness": "Software and services",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {
            "Bills": {"Day": 15, "Type": "OFFOLLOWINGMONTH"},
            "Sales": {"Day": 20, "Type": "OFFOLLOWINGMONTH"},
        },
    }
    for code, name, kind, tax in ACCOUNTS:
        record: Record = {
            "AccountID": stable_id(tid, "account", code),
            "Code": code,
            "Name": name,
            "Type": kind,
            "Status": "ACTIVE",
            "TaxType": tax,
            "Class": _CLASS[kind],
            "EnablePaymentsToAccount": False,
            "ShowInExpenseClaims": kind == "EXPENSE",
            "ReportingCode": "",
            "HasAttachments": False,
            "AddToWatchlist": False,
            "UpdatedDateUTC": msdate(ms),
            "_updated_ms": ms,
        }
        if kind == "BANK":
            record.update(
                {
                    "BankAccountNumber": "062-000 12345678",
                    "BankAccountType": "BANK",
                    "CurrencyCode": "AUD",
                }
            )
        if code in _SYSTEM:
            record["SystemAccount"] = _SYSTEM[code]
        tenant["Accounts"].put(record)
    for tax_type, name, rate in TAX_RATES:
        tenant["TaxRates"].put(
            {
                "Name": name,
                "TaxType": tax_type,
                "Status": "ACTIVE",
                "ReportTaxType": tax_type,
                "TaxComponents": [
                    {"Name": "GST", "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}
                ],
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": True,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": True,
                "DisplayTaxRate": rate,
                "EffectiveRate": rate,
            }
        )
    for code, description in CURRENCIES:
        tenant["Currencies"].put({"Code": code, "Description": description})
    for order, name in enumerate(BRANDING_THEMES):
        tenant["BrandingThemes"].put(
            {
                "BrandingThemeID": stable_id(tid, "theme", name),
                "Name": name,
                "Type": "INVOICE",
                "SortOrder": order,
                "CreatedDateUTC": msdate(ms),
            }
        )
    for name, options in TRACKING.items():
        cat_id = stable_id(tid, "tracking", name)
        tenant["TrackingCategories"].put(
            {
                "TrackingCategoryID": cat_id,
                "Name": name,
                "Status": "ACTIVE",
                "Options": [
                    {
                        "TrackingOptionID": stable_id(tid, "tracking", name, o),
                        "Name": o,
                        "Status": "ACTIVE",
                        "TrackingCategoryID": cat_id,
                    }
                    for o in options
                ],
            }
        )
    archived_id = stable_id(tid, "tracking", "Department")
    tenant["TrackingCategories"].put(
        {
            "TrackingCategoryID": archived_id,
            "Name": "Department",
            "Status": "ARCHIVED",
            "Options": [
                {
                    "TrackingOptionID": stable_id(tid, "tracking", "Department", "Retail"),
                    "Name": "Retail",
                    "Status": "ACTIVE",
                    "TrackingCategoryID": archived_id,
                }
            ],
        }
    )


def _demo_data(tenant: Tenant, now: float) -> None:
    ctx = seed_ctx(tenant, now)
    tid = tenant.tenant_id
    special = stable_id(tid, "theme", "Special Projects")

    template = contacts.save(
        ctx,
        {
            "Name": "Template Ledger",
            "ContactNumber": "TEMPLATE",
            "EmailAddress": "accounts@example.com",
            "DefaultCurrency": "AUD",
            "AccountsReceivableTaxType": "OUTPUT",
            "AccountsPayableTaxType": "INPUT",
            "BrandingTheme": {"BrandingThemeID": special},
            "PaymentTerms": {
                "Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"},
                "Bills": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
            },
            "SalesTrackingCategories": [
                {"TrackingCategoryName": "Region", "TrackingOptionName": "North"}
            ],
            "PurchasesTrackingCategories": [
                {"TrackingCategoryName": "Region", "TrackingOptionName": "South"}
            ],
            "SalesDefaultAccountCode": "200",
            "PurchasesDefaultAccountCode": "300",
        },
        create_only=True,
    )
    contacts.admin_patch(ctx, template, {"Discount": 5.0})

    customers: dict[str, Record] = {}
    extras: list[tuple[str, dict[str, Any]]] = [
        (
            "Boom FM",
            {
                "EmailAddress": "accounts@boomfm.example",
                "ContactNumber": "C-1001",
                "FirstName": "Rita",
                "LastName": "Boom",
                "Phones": [
                    {"PhoneType": "DEFAULT", "PhoneNumber": "5550101", "PhoneAreaCode": "02"}
                ],
                "Addresses": [
                    {
                        "AddressType": "STREET",
                        "AddressLine1": "1 Radio Rd",
                        "City": "Sydney",
                        "PostalCode": "2000",
                        "Country": "Australia",
                    }
                ],
            },
        ),
        ("City Agency", {"EmailAddress": "ap@cityagency.example", "ContactNumber": "C-1002"}),
        ("Marine Systems", {"EmailAddress": "finance@marine.example"}),
        ("Ridgeway University", {"DefaultCurrency": "USD", "TaxNumber": "12-3456789"}),
        ("Basket Case", {"EmailAddress": "hello@basketcase.example"}),
        ("Bayside Club", {"EmailAddress": "secretary@bayside.example", "ContactNumber": "C-1006"}),
    ]
    for name, extra in extras:
        customers[name] = contacts.save(ctx, {"Name": name, **extra}, create_only=True)
    suppliers = {}
    for name in ("PowerDirect", "SMART Agency", "Office Supplies Co"):
        suppliers[name] = contacts.save(
            ctx, {"Name": name, "AccountsPayableTaxType": "INPUT"}, create_only=True
        )

    tracked = []
    for code, name, price, cost, qty in [
        ("BOOK", "Fish out of Water: Finding Your Brand", 19.95, 12.5, 100),
        ("GB1-White", "Golf balls - white single", 5.0, 2.2, 250),
        ("DESK", "Standing desk", 899.0, 450.0, 4),
    ]:
        item = items.save(
            ctx,
            {
                "Code": code,
                "Name": name,
                "Description": name,
                "PurchaseDescription": name,
                "InventoryAssetAccountCode": "630",
                "SalesDetails": {"UnitPrice": price, "AccountCode": "200", "TaxType": "OUTPUT"},
                "PurchaseDetails": {
                    "UnitPrice": cost,
                    "COGSAccountCode": "310",
                    "TaxType": "INPUT",
                },
            },
            create_only=True,
        )
        tracked.append(
            items.admin_patch(
                ctx, item, {"QuantityOnHand": float(qty), "TotalCostPool": round(qty * cost, 2)}
            )
        )
    for code, name, price in [
        ("DevD", "Development work - developer day", 995.0),
        ("Support", "Support hour", 120.0),
        ("Train-Desk", "Desk training session", 250.0),
    ]:
        items.save(
            ctx,
            {
                "Code": code,
                "Name": name,
                "Description": name,
                "SalesDetails": {"UnitPrice": price, "AccountCode": "200", "TaxType": "OUTPUT"},
                "PurchaseDetails": {"UnitPrice": 0, "AccountCode": "300", "TaxType": "INPUT"},
            },
            create_only=True,
        )

    day = today(now)
    kind = documents.INVOICE

    def invoice(contact: Record, status: str, lines: list[Record], **extra: Any) -> Record:
        return documents.save(
            ctx,
            kind,
            {
                "Type": extra.pop("Type", "ACCREC"),
                "Contact": {"ContactID": contact["ContactID"]},
                "Date": extra.pop("Date", add_days(day, -30)),
                "Status": status,
                "LineItems": lines,
                **extra,
            },
            create_only=True,
        )

    invoice(
        customers["Boom FM"],
        "DRAFT",
        [
            {"ItemCode": "DevD", "Quantity": 2, "DiscountRate": 5.0},
            {"ItemCode": "BOOK", "Quantity": 3},
        ],
        Reference="Quote Q-100",
    )
    invoice(
        customers["City Agency"],
        "SUBMITTED",
        [
            {
                "Description": "Consulting",
                "Quantity": 5,
                "UnitAmount": 150.0,
                "AccountCode": "200",
                "TaxType": "OUTPUT",
                "Tracking": [{"Name": "Region", "Option": "South"}],
            },
        ],
    )
    invoice(
        customers["Marine Systems"],
        "AUTHORISED",
        [
            {"ItemCode": "GB1-White", "Quantity": 20},
            {"ItemCode": "Support", "Quantity": 4},
        ],
        Reference="PO 4471",
    )
    paid = invoice(
        customers["Boom FM"],
        "AUTHORISED",
        [
            {"ItemCode": "Train-Desk", "Quantity": 1},
        ],
        Date=add_days(day, -60),
    )
    documents.admin_patch(ctx, kind, paid, {"Status": "PAID"})
    to_void = invoice(
        customers["City Agency"],
        "AUTHORISED",
        [
            {
                "Description": "Cancelled order",
                "Quantity": 1,
                "UnitAmount": 500.0,
                "AccountCode": "200",
            },
        ],
    )
    documents.save(
        ctx, kind, {"InvoiceID": to_void["InvoiceID"], "Status": "VOIDED"}, create_only=False
    )
    to_delete = invoice(
        customers["Basket Case"],
        "DRAFT",
        [
            {"Description": "Mistake", "Quantity": 1, "UnitAmount": 10.0, "AccountCode": "200"},
        ],
    )
    documents.save(
        ctx, kind, {"InvoiceID": to_delete["InvoiceID"], "Status": "DELETED"}, create_only=False
    )
    invoice(
        customers["Ridgeway University"],
        "AUTHORISED",
        [
            {"ItemCode": "DevD", "Quantity": 1, "TaxType": "EXEMPTEXPORT"},
        ],
        CurrencyCode="USD",
    )
    invoice(
        customers["Bayside Club"],
        "AUTHORISED",
        [
            {
                "Description": "Club membership software",
                "Quantity": 1,
                "UnitAmount": 300.0,
                "AccountCode": "260",
            },
        ],
        Date=add_days(day, -200),
    )
    contacts.save(
        ctx,
        {"ContactID": customers["Bayside Club"]["ContactID"], "ContactStatus": "ARCHIVED"},
        create_only=False,
    )
    # Supplier bills a correct client never requests.
    invoice(
        suppliers["PowerDirect"],
        "AUTHORISED",
        [
            {
                "Description": "Electricity",
                "Quantity": 1,
                "UnitAmount": 240.0,
                "AccountCode": "429",
                "TaxType": "INPUT",
            },
        ],
        Type="ACCPAY",
        InvoiceNumber="PD-7781",
        DueDate=add_days(day, 10),
    )
    invoice(
        suppliers["SMART Agency"],
        "DRAFT",
        [
            {
                "Description": "Marketing",
                "Quantity": 1,
                "UnitAmount": 1200.0,
                "AccountCode": "400",
                "TaxType": "INPUT",
            },
        ],
        Type="ACCPAY",
        DueDate=add_days(day, 20),
    )
    invoice(
        suppliers["Office Supplies Co"],
        "AUTHORISED",
        [
            {"ItemCode": "BOOK", "Quantity": 10, "UnitAmount": 12.5},
        ],
        Type="ACCPAY",
        DueDate=add_days(day, 5),
    )

    ckind = documents.CREDIT_NOTE

    def credit(contact: Record, status: str, lines: list[Record], cn_type: str) -> Record:
        return documents.save(
            ctx,
            ckind,
            {
                "Type": cn_type,
                "Contact": {"ContactID": contact["ContactID"]},
                "Date": add_days(day, -10),
                "Status": status,
                "LineItems": lines,
            },
            create_only=True,
        )

    credit(
        customers["Boom FM"],
        "AUTHORISED",
        [
            {
                "Description": "Refund for late delivery",
                "Quantity": 1,
                "UnitAmount": 50.0,
                "AccountCode": "200",
                "TaxType": "OUTPUT",
            }
        ],
        "ACCRECCREDIT",
    )
    credit(
        customers["Marine Systems"],
        "DRAFT",
        [{"ItemCode": "GB1-White", "Quantity": 2}],
        "ACCRECCREDIT",
    )
    credit(
        suppliers["PowerDirect"],
        "AUTHORISED",
        [
            {
                "Description": "Billing error",
                "Quantity": 1,
                "UnitAmount": 40.0,
                "AccountCode": "429",
                "TaxType": "INPUT",
            }
        ],
        "ACCPAYCREDIT",
    )
