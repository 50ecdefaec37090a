from decimal import Decimal

from xerosync.mapping.items import item_payload, product_fields
from xerosync.models import Product


def product(**overrides: object) -> Product:
    fields: dict[str, object] = {
        "id": 7,
        "connection_id": 1,
        "code": "BOOK",
        "name": "Fish out of Water",
        "description": "A paperback",
        "sales_unit_price": Decimal("19.95"),
        "sales_account_code": "200",
        "sales_tax_type": "OUTPUT",
        "purchase_unit_price": Decimal("12.00"),
        "purchase_account_code": "300",
        "is_tracked": False,
    }
    fields.update(overrides)
    return Product(**fields)


def test_item_carries_code_name_description_and_both_details() -> None:
    payload = item_payload(product(), item_id="i-1")
    assert payload == {
        "ItemID": "i-1",
        "Code": "BOOK",
        "Name": "Fish out of Water",
        "Description": "A paperback",
        "SalesDetails": {"UnitPrice": Decimal("19.95"), "AccountCode": "200", "TaxType": "OUTPUT"},
        "PurchaseDetails": {"UnitPrice": Decimal("12.00"), "AccountCode": "300"},
    }


def test_tracked_items_take_no_purchase_account() -> None:
    payload = item_payload(product(is_tracked=True))
    assert payload["PurchaseDetails"] == {"UnitPrice": Decimal("12.00")}


def test_import_takes_stock_from_tracked_items_only() -> None:
    tracked = product_fields(
        {
            "Code": "GB1",
            "Name": "Golf balls",
            "IsTrackedAsInventory": True,
            "QuantityOnHand": Decimal("40"),
            "SalesDetails": {"UnitPrice": Decimal("4.5"), "AccountCode": "200"},
        }
    )
    assert tracked["quantity_on_hand"] == Decimal("40")
    assert tracked["sales_unit_price"] == Decimal("4.5")
    untracked = product_fields({"Code": "SVC", "IsTrackedAsInventory": False, "QuantityOnHand": 3})
    assert untracked["quantity_on_hand"] is None
    assert untracked["name"] == "SVC"
