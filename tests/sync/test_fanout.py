"""Beat's fan-out asks about every organisation at once: the batched read of the plans and of
the outboxes agree with the one-organisation questions they replace (`is_due`,
`has_pending_work`), so a tick costs a fixed number of round trips, not two per organisation."""

from __future__ import annotations

import uuid
from datetime import timedelta

import fakeredis
from sqlalchemy import update
from sqlalchemy.orm import Session

from xerosync.models import (
    Connection,
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    OrderStatus,
    XeroLink,
    utcnow,
)
from xerosync.sync import cadence


def _org(session: Session, name: str) -> int:
    row = Connection(tenant_id=str(uuid.uuid4()), tenant_name=name, token_encrypted=False)
    session.add(row)
    session.flush()
    return row.id


def _order(session: Session, connection_id: int, status: OrderStatus, **fields: object) -> int:
    customer = Customer(connection_id=connection_id, name=f"Customer of {connection_id}")
    session.add(customer)
    session.flush()
    order = Order(
        connection_id=connection_id, customer_id=customer.id, status=status.value, **fields
    )
    session.add(order)
    session.flush()
    return order.id


def _link(
    session: Session, connection_id: int, kind: LinkKind, local_id: int, **fields: object
) -> None:
    session.add(XeroLink(connection_id=connection_id, kind=kind.value, local_id=local_id, **fields))


def test_the_outboxes_of_many_organisations_in_one_question(session: Session) -> None:
    later = utcnow() + timedelta(hours=1)
    quiet = _org(session, "nothing to do")
    pending = _org(session, "a product waits for its push")
    deferred_later = _org(session, "a product deferred to later")
    to_invoice = _org(session, "a confirmed order without its invoice")
    held = _org(session, "a confirmed order whose invoice is in error")
    to_delete = _org(session, "a voided order whose Draft is still in Xero")
    _link(session, pending, LinkKind.ITEM, 1, status=LinkStatus.PENDING.value)
    _link(session, deferred_later, LinkKind.ITEM, 1, status=LinkStatus.DEFERRED.value,
          retry_after=later)  # fmt: skip
    _order(session, to_invoice, OrderStatus.CONFIRMED)
    held_order = _order(session, held, OrderStatus.CONFIRMED)
    _link(session, held, LinkKind.INVOICE, held_order, status=LinkStatus.ERROR.value)
    _order(session, to_delete, OrderStatus.VOIDED, xero_invoice_id=str(uuid.uuid4()),
           xero_invoice_status="DRAFT")  # fmt: skip
    # Customers saved for the orders may have been put in the outbox: they are in Xero here.
    session.execute(
        update(XeroLink)
        .where(XeroLink.kind == LinkKind.CONTACT.value)
        .values(status=LinkStatus.SYNCED.value)
    )
    session.commit()
    ids = [quiet, pending, deferred_later, to_invoice, held, to_delete]

    found = cadence.pending_work_among(session, ids)

    assert found == {pending, to_invoice, to_delete}
    assert found == {i for i in ids if cadence.has_pending_work(session, i)}
    assert cadence.pending_work_among(session, [quiet, held]) == set()
    assert cadence.pending_work_among(session, []) == set()


def test_the_plans_of_many_organisations_in_one_round_trip() -> None:
    client = fakeredis.FakeRedis()
    now = 10_000.0
    cadence.record_pass(client, 1, idle=True, started_at=now - 50, base=30, idle_max=180)
    cadence.record_pass(client, 2, idle=False, started_at=now - 50, base=30, idle_max=180)
    cadence.wake(client, 3, now=now - 1)
    ids = [1, 2, 3, 4]  # 4: no plan at all, so due

    due = cadence.due_among(client, ids, now, slack=5)

    assert due == {2, 3, 4}, "1 planned 60 s after its pass; 2 at 30 s; 3 woken; 4 unknown"
    assert due == {i for i in ids if cadence.is_due(client, i, now, 5)}
