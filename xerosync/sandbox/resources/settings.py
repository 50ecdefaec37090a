"""Read-only organisation settings: Accounts, TaxRates, Currencies, BrandingThemes,
TrackingCategories and Organisation. The sandbox serves them; it does not let the API edit
them (xerosync never does)."""

from __future__ import annotations

from xerosync.sandbox import errors
from xerosync.sandbox.resources.common import Ctx, public, query, updated_reader
from xerosync.sandbox.store import Record
from xerosync.sandbox.where import Getter, Schema, field_types, fieldset


def _schema(
    type_name: str, names: str, readers: dict[str, Getter] | None = None, **types: str
) -> Schema:
    fields = fieldset(names)
    return Schema(type_name, fields, {}, readers or {}, field_types(fields, **types))


SCHEMAS = {
    "Accounts": _schema(
        "Account",
        """Code Name AccountID Type BankAccountNumber Status Description BankAccountType
        CurrencyCode TaxType EnablePaymentsToAccount ShowInExpenseClaims Class SystemAccount
        ReportingCode ReportingCodeName HasAttachments UpdatedDateUTC AddToWatchlist""",
        {"UpdatedDateUTC": updated_reader},
        guids="AccountID",
        booleans="EnablePaymentsToAccount ShowInExpenseClaims HasAttachments AddToWatchlist",
        dates="UpdatedDateUTC",
    ),
    "TaxRates": _schema(
        "TaxRate",
        """Name TaxType TaxComponents Status ReportTaxType CanApplyToAssets CanApplyToEquity
        CanApplyToExpenses CanApplyToLiabilities CanApplyToRevenue DisplayTaxRate
        EffectiveRate""",
        booleans="""CanApplyToAssets CanApplyToEquity CanApplyToExpenses CanApplyToLiabilities
            CanApplyToRevenue""",
        numbers="DisplayTaxRate EffectiveRate",
        untyped="TaxComponents",
    ),
    "Currencies": _schema("Currency", "Code Description"),
    "BrandingThemes": _schema(
        "BrandingTheme",
        "BrandingThemeID Name LogoUrl Type SortOrder CreatedDateUTC",
        guids="BrandingThemeID",
        numbers="SortOrder",
        dates="CreatedDateUTC",
    ),
    "TrackingCategories": _schema(
        "TrackingCategory",
        "TrackingCategoryID TrackingOptionID Name Option Status Options",
        guids="TrackingCategoryID TrackingOptionID",
        untyped="Options",
    ),
}


def list_settings(ctx: Ctx, name: str) -> tuple[int, Record]:
    base = None
    if name == "TrackingCategories" and not ctx.flag("includeArchived"):

        def base(record: Record) -> bool:
            return record.get("Status") == "ACTIVE"

    rows = query(
        ctx, ctx.tenant[name], SCHEMAS[name], base=base, base_key=ctx.flag("includeArchived")
    )
    return 200, {name: [public(r) for r in rows]}


def get_setting(ctx: Ctx, name: str, key: str) -> tuple[int, Record]:
    record = ctx.tenant[name].get(key)
    if record is None:
        raise errors.not_found()
    return 200, {name: [public(record)]}


def organisation(ctx: Ctx) -> tuple[int, Record]:
    return 200, {"Organisations": [dict(ctx.tenant.organisation)]}
