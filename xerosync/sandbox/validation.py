"""Reference checks shared by the resources, with Xero's wording where it is known.

Known wording (seen in Xero responses): "Account code 'X' is not a valid code for this
document.", "The TaxType code X does not exist or cannot be used for this type of
transaction.", "Organisation is not subscribed to currency X". Other messages are the
sandbox's, written in the same style; the README lists which.
"""

from __future__ import annotations

from typing import Any

from xerosync.sandbox.store import Record, Tenant
from xerosync.sandbox.where import fieldset

ISO_CURRENCIES = fieldset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BYR BZD CAD CDF CHF CLF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EEK EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LTL LVL LYD MAD MDL MGA
    MKD MMK MNT MOP MRO MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
    PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SKK SLE SLL SOS SRD STD STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VEF VES VND VUV WST XAF
    XCD XOF XPF YER ZAR ZMW ZMK ZWD"""
)
"""The spec's `CurrencyCode` enum."""


def account(tenant: Tenant, code: Any) -> Record | None:
    """An ACTIVE account by code."""
    if not isinstance(code, str):
        return None
    for record in tenant["Accounts"]:
        if record.get("Code") == code and record.get("Status") == "ACTIVE":
            return record
    return None


def account_error(tenant: Tenant, code: Any) -> str | None:
    if account(tenant, code) is None:
        return f"Account code '{code}' is not a valid code for this document."
    return None


def tax_rate(tenant: Tenant, tax_type: Any) -> Record | None:
    if not isinstance(tax_type, str):
        return None
    record = tenant["TaxRates"].get(tax_type)
    if record is None or record.get("Status") != "ACTIVE" or record.get("TaxType") != tax_type:
        return None
    return record


def tax_type_error(tenant: Tenant, tax_type: Any) -> str | None:
    if tax_rate(tenant, tax_type) is None:
        return (
            f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
            "transaction."
        )
    return None


def currency_error(tenant: Tenant, code: Any) -> str | None:
    if not isinstance(code, str) or code not in ISO_CURRENCIES:
        return f"The currency code {code} is not a valid currency code."
    if tenant["Currencies"].get(code) is None:
        return f"Organisation is not subscribed to currency {code}"
    return None


def branding_theme(tenant: Tenant, theme_id: Any) -> Record | None:
    if not isinstance(theme_id, str):
        return None
    return tenant["BrandingThemes"].get(theme_id)


def tracking_option(tenant: Tenant, category: dict[str, Any]) -> tuple[Record, Record] | None:
    """Resolve `{Name, Option}` or `{TrackingCategoryID, TrackingOptionID}` to records."""
    for cat in tenant["TrackingCategories"]:
        if cat.get("Status") != "ACTIVE":
            continue
        by_id = str(category.get("TrackingCategoryID", "")).lower() == cat["TrackingCategoryID"]
        by_name = category.get("Name", category.get("TrackingCategoryName")) == cat["Name"]
        if not (by_id or by_name):
            continue
        wanted_option = category.get("Option", category.get("TrackingOptionName"))
        for option in cat.get("Options", []):
            if option.get("Status") != "ACTIVE":
                continue
            if (
                str(category.get("TrackingOptionID", "")).lower() == option["TrackingOptionID"]
                or wanted_option == option["Name"]
            ):
                return cat, option
    return None
