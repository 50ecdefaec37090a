"""`/Items`: not paged. Create (PUT), upsert by ItemID or Code (POST), delete.

`QuantityOnHand`, `TotalCostPool` and `IsTrackedAsInventory` are read-only: stock moves only
through invoices (see documents.py). An item is tracked when it has an
`InventoryAssetAccountCode` (an INVENTORY account) and a purchase `COGSAccountCode`.
"""

from __future__ import annotations

from typing import Any

from xerosync.sandbox import errors, validation
from xerosync.sandbox.resources.common import (
    Ctx,
    ElementError,
    check_length,
    elements_of,
    new_id,
    public,
    query,
    run_batch,
    updated_reader,
)
from xerosync.sandbox.store import Record, Tenant
from xerosync.sandbox.where import Schema, field_types, fieldset

ITEM_FIELDS = fieldset(
    [
        "Code",
        "InventoryAssetAccountCode",
        "Name",
        "IsSold",
        "IsPurchased",
        "Description",
        "PurchaseDescription",
        "PurchaseDetails",
        "SalesDetails",
        "IsTrackedAsInventory",
        "TotalCostPool",
        "QuantityOnHand",
        "UpdatedDateUTC",
        "ItemID",
        "StatusAttributeString",
        "ValidationErrors",
    ]
)
WRITABLE = fieldset(
    [
        "Code",
        "InventoryAssetAccountCode",
        "Name",
        "IsSold",
        "IsPurchased",
        "Description",
        "PurchaseDescription",
        "PurchaseDetails",
        "SalesDetails",
    ]
)
_DETAIL_NAMES = frozenset({"UnitPrice", "AccountCode", "COGSAccountCode", "TaxType"})
_DETAIL_FIELDS = Schema(
    "Purchase", _DETAIL_NAMES, {}, {}, field_types(_DETAIL_NAMES, numbers="UnitPrice")
)
SCHEMA = Schema(
    "Item",
    ITEM_FIELDS,
    {"SalesDetails": _DETAIL_FIELDS, "PurchaseDetails": _DETAIL_FIELDS},
    {"UpdatedDateUTC": updated_reader},
    field_types(
        ITEM_FIELDS,
        numbers="TotalCostPool QuantityOnHand",
        booleans="IsSold IsPurchased IsTrackedAsInventory",
        dates="UpdatedDateUTC",
        guids="ItemID",
        untyped="PurchaseDetails SalesDetails ValidationErrors",
    ),
)


def render(record: Record) -> Record:
    return public(record)


def list_items(ctx: Ctx) -> tuple[int, Record]:
    rows = query(ctx, ctx.tenant["Items"], SCHEMA)
    return 200, {"Items": [render(r) for r in rows]}


def find(tenant: Tenant, key: str) -> Record | None:
    """By ItemID, else by Code."""
    record = tenant["Items"].get(key)
    if record is not None:
        return record
    item_id = tenant.indexes["item_code"].get(key.lower())
    return tenant["Items"].get(item_id) if item_id else None


def get_item(ctx: Ctx, key: str) -> tuple[int, Record]:
    record = find(ctx.tenant, key)
    if record is None:
        raise errors.not_found()
    return 200, {"Items": [render(record)]}


def delete_item(ctx: Ctx, key: str) -> tuple[int, Record | None]:
    record = find(ctx.tenant, key)
    if record is None:
        raise errors.not_found()
    if record.get("IsTrackedAsInventory") and record.get("_used"):
        raise errors.validation(
            f"The item {record['Code']} is tracked and has transactions; it cannot be deleted."
        )
    ctx.tenant.indexes["item_code"].pop(str(record["Code"]).lower(), None)
    ctx.tenant["Items"].delete(record["ItemID"])
    return 204, None


def write_items(ctx: Ctx, *, create_only: bool, path_id: str | None = None) -> tuple[int, Record]:
    elements = elements_of(ctx.body, "Items")
    if path_id is not None:
        for element in elements:
            if isinstance(element, dict):
                element.setdefault("ItemID", path_id)

    def apply(element: Record) -> Record:
        return save(ctx, element, create_only=create_only)

    return run_batch(
        ctx, elements, "Items", apply, render, id_field="ItemID", error_flag="HasErrors"
    )


def save(ctx: Ctx, element: Record, *, create_only: bool) -> Record:
    tenant = ctx.tenant
    existing: Record | None = None
    if element.get("ItemID"):
        existing = tenant["Items"].get(str(element["ItemID"]))
        if existing is None:
            raise ElementError([f"Item with ItemID {element['ItemID']} could not be found."])
    elif isinstance(element.get("Code"), str):
        existing = find(tenant, element["Code"])
    if existing is not None and create_only:
        raise ElementError([f"Item code '{element.get('Code')}' already exists."])
    record: Record = (
        dict(existing)
        if existing
        else {
            "ItemID": new_id(),
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
            "QuantityOnHand": None,
            "TotalCostPool": None,
            "_used": False,
        }
    )
    for key, value in element.items():
        if key in WRITABLE and value is not None:
            record[key] = value
    messages = validate(tenant, record)
    if messages:
        raise ElementError(messages)
    _derive(record)
    ctx.stamp(record)
    store(tenant, record, existing)
    return record


def store(tenant: Tenant, record: Record, previous: Record | None) -> None:
    codes = tenant.indexes["item_code"]
    if previous is not None:
        codes.pop(str(previous.get("Code", "")).lower(), None)
    codes[str(record["Code"]).lower()] = record["ItemID"]
    tenant["Items"].put(record)


def _derive(record: Record) -> None:
    if record.get("IsSold") is False:
        record.pop("Description", None)
        record.pop("SalesDetails", None)
    if record.get("IsPurchased") is False:
        record.pop("PurchaseDescription", None)
        record.pop("PurchaseDetails", None)
    tracked = bool(record.get("InventoryAssetAccountCode"))
    record["IsTrackedAsInventory"] = tracked
    if tracked:
        record["QuantityOnHand"] = record.get("QuantityOnHand") or 0.0
        record["TotalCostPool"] = record.get("TotalCostPool") or 0.0
    else:
        record.pop("QuantityOnHand", None)
        record.pop("TotalCostPool", None)


def validate(tenant: Tenant, record: Record) -> list[str]:
    messages: list[str] = []
    code = record.get("Code")
    if not isinstance(code, str) or not code.strip():
        messages.append("Item code must be specified.")
    check_length(messages, record, "Code", 30, "Code")
    check_length(messages, record, "Name", 50, "Name")
    check_length(messages, record, "Description", 4000, "Description")
    check_length(messages, record, "PurchaseDescription", 4000, "PurchaseDescription")
    inventory = record.get("InventoryAssetAccountCode")
    if inventory:
        acct = validation.account(tenant, inventory)
        if acct is None or acct.get("Type") != "INVENTORY":
            messages.append(f"Account code '{inventory}' is not a valid inventory asset account.")
        purchase = record.get("PurchaseDetails") or {}
        if not isinstance(purchase, dict) or not purchase.get("COGSAccountCode"):
            messages.append("A COGSAccountCode must be specified for a tracked inventory item.")
    for key in ("SalesDetails", "PurchaseDetails"):
        details: Any = record.get(key)
        if details is None:
            continue
        if not isinstance(details, dict):
            messages.append(f"{key} is not valid.")
            continue
        for code_key in ("AccountCode", "COGSAccountCode"):
            if details.get(code_key):
                err = validation.account_error(tenant, details[code_key])
                if err:
                    messages.append(err)
        if details.get("TaxType"):
            err = validation.tax_type_error(tenant, details["TaxType"])
            if err:
                messages.append(err)
        price = details.get("UnitPrice")
        if price is not None and (isinstance(price, bool) or not isinstance(price, int | float)):
            messages.append(f"{key} UnitPrice must be a number.")
    return messages


def admin_patch(ctx: Ctx, record: Record, fields: dict[str, Any]) -> Record:
    updated = {**record, **fields}
    ctx.stamp(updated)
    store(ctx.tenant, updated, record)
    return updated
