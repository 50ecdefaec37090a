"""What the path tests share: the CRM's rows, waiting on a condition, reading the sandbox's log.

The path tests run the way production does (prefork workers, the real Redis broker, the
sandbox in its own process; `tests/faults/conftest.py`'s `fault_env`) and assert the path a
unit of work took (retries, task outcomes, worker logs, calls, 429s), not only the end state
that the routine pass would restore anyway.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.faults.conftest import FaultEnv
from tests.fixtures.waiting import eventually as eventually  # re-exported for the path tests
from tests.fixtures.worker_logs import tracebacks, unexpected_errors
from xerosync.models import Customer, LinkKind, Order, OrderLine, OrderStatus, Product, XeroLink

API = "/api.xro/2.0"


def new_customer(env: FaultEnv, name: str, **fields: Any) -> int:
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name=name, **fields)
        session.add(customer)
        session.commit()
        return customer.id


def confirmed_order(env: FaultEnv, customer_name: str, number: str = "Q-1") -> int:
    """A confirmed quote with one product line, saved as the CRM saves it."""
    with env.session() as session:
        product = Product(
            connection_id=env.connection_id,
            code=f"P-{number}",
            name=f"Product of {number}",
            sales_unit_price=Decimal("12.50"),
            sales_account_code="200",
            sales_tax_type="OUTPUT",
        )
        customer = Customer(connection_id=env.connection_id, name=customer_name)
        order = Order(
            connection_id=env.connection_id,
            customer=customer,
            number=number,
            currency="AUD",
            customer_reference=f"PO-{number}",
            status=OrderStatus.CONFIRMED.value,
            lines=[
                OrderLine(position=0, product=product, quantity=Decimal(2),
                          unit_price=Decimal("12.50"))
            ],
        )  # fmt: skip
        session.add_all([product, customer, order])
        session.commit()
        return order.id


def invoice_id(env: FaultEnv, order_id: int) -> str | None:
    with env.session() as session:
        return session.get_one(Order, order_id).xero_invoice_id


def link(env: FaultEnv, kind: LinkKind, local_id: int) -> XeroLink | None:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
        ).first()


def invoices_of(env: FaultEnv, order_id: int) -> list[dict[str, Any]]:
    """The sandbox's live invoices that link back to the order (its Url)."""
    suffix = f"/{order_id}"
    return [
        inv
        for inv in env.control.records("Invoices")
        if str(inv.get("Url") or "").endswith(suffix)
        and inv.get("Status") not in ("DELETED", "VOIDED")
    ]


def served_429s(env: FaultEnv) -> int:
    return sum(1 for r in env.control.requests() if r["status"] == 429)


def all_logs(env: FaultEnv) -> str:
    return "\n".join(w.log_path.read_text(errors="replace") for w in env.workers)


def assert_clean_logs(env: FaultEnv, *, allowed_tracebacks: int = 0) -> None:
    """No task ended in an exception; no traceback beyond those the test caused on purpose."""
    text = all_logs(env)
    assert unexpected_errors(text) == [], env.worker_logs()
    assert tracebacks(text) <= allowed_tracebacks, env.worker_logs()
