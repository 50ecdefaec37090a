"""A CRM's side of xerosync, complete and runnable: `make run` in one terminal, then
`.venv/bin/python examples/crm_integration.py` in another.

It saves a customer and a product, confirms a quote, tells xerosync after each commit, and
shows each record's sync state as the CRM would beside it. The README's CRM section is this
file's `main`; the suite runs it against the sandbox with real workers.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from xerosync import crm
from xerosync.models import Customer, Order, OrderLine, OrderStatus, Product


def wait_until_final(
    db: Session, record: Customer | Product | Order, seconds: float = 30.0
) -> crm.SyncState:
    """Poll the record's sync state, as a CRM page refresh would."""
    deadline = time.monotonic() + seconds
    state = crm.sync_state(db, record)
    while not state.is_final and time.monotonic() < deadline:
        time.sleep(0.2)
        state = crm.sync_state(db, record)
    return state


def main(organisation: str | None = None) -> int:
    with crm.session() as db:
        # Every CRM row names its organisation: the only connected one, or the one named.
        org = crm.connection_id(db, organisation)

        with db.begin():  # required: connection_id, name
            customer = Customer(
                connection_id=org, name="Ridgeway Joinery", email="ap@ridgeway.example"
            )
            db.add(customer)
        crm.customer_saved(customer.id)  # after the commit; False means "the pass will do it"

        with db.begin():  # required: connection_id, code, name
            product = Product(
                connection_id=org,
                code="OAK-BOARD-2M",
                name="Oak board 2 m",
                sales_unit_price=Decimal("42.50"),
                sales_account_code="200",
                sales_tax_type="OUTPUT",
            )
            db.add(product)
        crm.product_saved(product.id)

        with db.begin():  # required: connection_id, customer_id; each line quantity, unit_price
            order = Order(
                connection_id=org,
                customer_id=customer.id,
                currency="USD",
                customer_reference="PO-1187",
            )
            order.lines.append(
                OrderLine(
                    product_id=product.id,
                    description=product.name,
                    quantity=Decimal("3"),
                    unit_price=Decimal("42.50"),
                    account_code="200",
                    tax_type="OUTPUT",
                )
            )
            db.add(order)
        with db.begin():  # the rep confirms the quote
            order.status = OrderStatus.CONFIRMED.value
            order.confirmed_at = datetime.now(UTC)
        crm.order_confirmed(order.id)  # a Draft invoice in Xero within seconds

        for label, record in (("customer", customer), ("product", product), ("order", order)):
            state = wait_until_final(db, record)
            shown = state.error or state.xero_id or ""
            print(f"{label} #{record.id}: {state.state} {shown}".rstrip())
            if state.state != "synced":
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
