"""What a CRM needs from xerosync, in one place: a session, its organisation's id, the three
notifications, and a record's sync state to show beside it.

The notifications never fail the CRM's save. The database is the outbox: a saved customer or
product is marked pending by the save itself, and a confirmed order is found by the routine
pass, so a notification that cannot reach the broker only loses speed, never data. It is
logged and reported (`False`), not raised into the CRM's request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from xerosync.db import get_engine
from xerosync.models import (
    Connection,
    ConnectionStatus,
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    Product,
    XeroLink,
)
from xerosync.publish import BROKER_ERRORS, send_once
from xerosync.sync import outbox

log = logging.getLogger("xerosync.crm")

outbox.install()  # saves through the ORM mark their records pending

class UnknownOrganisation(LookupError):
    """No connected organisation matches what the CRM asked for; the message lists them."""


@lru_cache(maxsize=8)
def _sessions(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: the CRM reads `customer.id` after committing without starting
    # a new transaction behind its back (which then makes the next `session.begin()` fail).
    return sessionmaker(engine, expire_on_commit=False)


def session(engine: Engine | None = None) -> Session:
    """A session on xerosync's database (DATABASE_URL) for the CRM's own writes."""
    return _sessions(engine or get_engine())()


def connection_id(db: Session, organisation: str | None = None) -> int:
    """The `connection_id` every CRM row needs: the organisation named (its Xero name or
    tenant id), or the only connected one when none is named."""
    if not db.in_transaction():  # leave no transaction open: the CRM's `db.begin()` follows
        with db.begin():
            return connection_id(db, organisation)
    rows = list(db.scalars(select(Connection).order_by(Connection.id)))
    if organisation is not None:
        wanted = organisation.strip().casefold()
        matches = [
            c for c in rows if wanted in (c.tenant_name.casefold(), (c.tenant_id or "").casefold())
        ]
    else:
        matches = [c for c in rows if c.status == ConnectionStatus.ACTIVE.value]
    if len(matches) == 1:
        return matches[0].id
    known = ", ".join(f"{c.tenant_name!r} (#{c.id}, {c.status})" for c in rows) or "none"
    if organisation is not None:
        raise UnknownOrganisation(f"no organisation named {organisation!r}; connected: {known}")
    if not matches:
        raise UnknownOrganisation(
            f"no connected organisation (run `xerosync connect`); known: {known}"
        )
    raise UnknownOrganisation(f"several organisations are connected, name one: {known}")


def _notify(task: Any, record: str, record_id: int) -> bool:
    try:
        send_once(task, (int(record_id),))
    except BROKER_ERRORS as exc:
        log.warning(
            "could not queue %s for %s #%s (%s: %s); it is kept and the routine pass syncs it",
            task.name.rsplit(".", 1)[-1],
            record,
            record_id,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def _task(name: str) -> Callable[[], Any]:
    def load() -> Any:
        from xerosync import tasks  # the Celery app is built only when a CRM notifies

        return getattr(tasks, name)

    return load


_PUSH_CONTACT = _task("push_contact")
_PUSH_ITEM = _task("push_item")
_CREATE_INVOICE = _task("create_invoice_for_order")


def customer_saved(customer_id: int) -> bool:
    """After the customer's transaction committed: push it to Xero now. False: queued later."""
    return _notify(_PUSH_CONTACT(), "customer", customer_id)


def product_saved(product_id: int) -> bool:
    """After the product's transaction committed: push it to Xero now. False: queued later."""
    return _notify(_PUSH_ITEM(), "product", product_id)


def order_confirmed(order_id: int) -> bool:
    """After the confirmation committed: a Draft invoice at once (invoice queue)."""
    return _notify(_CREATE_INVOICE(), "order", order_id)


@dataclass(frozen=True)
class SyncState:
    """What the CRM shows beside a record: where it stands with Xero, and Xero's words."""

    state: str
    """`not sent yet`, `pending`, `synced`, `deferred`, `error` or `merged`."""
    xero_id: str | None
    error: str | None
    field: str | None
    retry_after: datetime | None

    @property
    def is_final(self) -> bool:
        """Nothing more will happen without a change in the CRM (or an operator's retry)."""
        return self.state in ("synced", "error", "merged")


_KINDS: dict[type, LinkKind] = {
    Customer: LinkKind.CONTACT,
    Product: LinkKind.ITEM,
    Order: LinkKind.INVOICE,
}


def sync_state(db: Session, record: Customer | Product | Order) -> SyncState:
    """The record's sync state as of now (read fresh from the database)."""
    if not db.in_transaction():  # a transaction of its own: each call sees the latest
        with db.begin():
            return sync_state(db, record)
    kind = _KINDS[type(record)]
    link = db.execute(
        select(XeroLink)
        .where(
            XeroLink.connection_id == record.connection_id,
            XeroLink.kind == kind.value,
            XeroLink.local_id == record.id,
        )
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if link is None:
        return SyncState("not sent yet", None, None, None, None)
    state = link.status
    if state == LinkStatus.PENDING.value and link.xero_id is None:
        state = "pending"
    return SyncState(
        state,
        link.xero_id,
        link.last_error if link.status != LinkStatus.SYNCED.value else None,
        link.last_error_field,
        link.retry_after,
    )
