"""Products ⇄ Xero items.

A push sends code, name, description, sales price/account/tax type and purchase
price/account. Tracked (inventory) items take no purchase account in Xero (their cost goes to
the COGS account Xero already holds), so none is sent for them. Obsolete products are not
archived in Xero: Xero's API has no archive for items.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from xerosync.models import Product


def _details(price: Decimal | None, account: str | None, tax: str | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if price is not None:
        details["UnitPrice"] = price
    if account:
        details["AccountCode"] = account.strip()
    if tax:
        details["TaxType"] = tax.strip()
    return details


def item_payload(product: Product, item_id: str | None = None) -> dict[str, Any]:
    """Payload creating (no `item_id`) or updating the product's item."""
    payload: dict[str, Any] = {
        "Code": product.code.strip(),
        "Name": product.name.strip(),
        "Description": (product.description or "").strip(),
    }
    sales = _details(product.sales_unit_price, product.sales_account_code, product.sales_tax_type)
    if sales:
        payload["SalesDetails"] = sales
    purchase_account = None if product.is_tracked else product.purchase_account_code
    purchase = _details(product.purchase_unit_price, purchase_account)
    if purchase:
        payload["PurchaseDetails"] = purchase
    if item_id:
        payload["ItemID"] = item_id
    return payload


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def product_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """CRM product columns from a Xero item (import); stock only for tracked items."""
    sales = item.get("SalesDetails") or {}
    purchase = item.get("PurchaseDetails") or {}
    tracked = bool(item.get("IsTrackedAsInventory"))
    return {
        "code": str(item.get("Code") or "").strip(),
        "name": str(item.get("Name") or item.get("Code") or "").strip(),
        "description": (item.get("Description") or None),
        "sales_unit_price": _decimal(sales.get("UnitPrice")),
        "sales_account_code": sales.get("AccountCode") or None,
        "sales_tax_type": sales.get("TaxType") or None,
        "purchase_unit_price": _decimal(purchase.get("UnitPrice")),
        "purchase_account_code": purchase.get("AccountCode") or None,
        "is_tracked": tracked,
        "quantity_on_hand": _decimal(item.get("QuantityOnHand")) if tracked else None,
    }
