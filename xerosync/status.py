"""What `xerosync status` and `xerosync errors` report, gathered without calling Xero."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import celeryconfig
from xerosync.models import (
    Connection,
    ConnectionStatus,
    ContactMerge,
    Customer,
    ImportReject,
    LinkKind,
    LinkStatus,
    Order,
    Product,
    SyncRun,
    XeroLink,
)
from xerosync.settings import Settings
from xerosync.xero.budget import RateBudget
from xerosync.xero.factory import budget_limits

RECORD_MODELS: dict[str, type[Customer] | type[Product] | type[Order]] = {
    LinkKind.CONTACT.value: Customer,
    LinkKind.ITEM.value: Product,
    LinkKind.INVOICE.value: Order,
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def last_run(session: Session, connection_id: int) -> dict[str, Any] | None:
    run = session.scalars(
        select(SyncRun)
        .where(SyncRun.connection_id == connection_id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return None
    return {
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "outcome": run.outcome,
        "counts": run.counts or {},
        "error": run.error,
    }


def link_counts(session: Session, connection_id: int) -> dict[str, dict[str, int]]:
    """{kind: {status: count}} for pending, deferred and error links."""
    rows = session.execute(
        select(XeroLink.kind, XeroLink.status, func.count())
        .where(
            XeroLink.connection_id == connection_id,
            XeroLink.status.in_(
                (LinkStatus.PENDING.value, LinkStatus.DEFERRED.value, LinkStatus.ERROR.value)
            ),
        )
        .group_by(XeroLink.kind, XeroLink.status)
    )
    counts: dict[str, dict[str, int]] = {kind.value: {} for kind in LinkKind}
    for kind, status, count in rows:
        counts.setdefault(kind, {})[status] = int(count)
    return counts


def budget_left(settings: Settings, client: redis.Redis, tenant_id: str) -> dict[str, Any]:
    limits = budget_limits(settings)
    snap = RateBudget(client, limits).snapshot(tenant_id)
    minute_left = limits.minute - snap["minute_used"]
    day_left = limits.day - snap["day_used"]
    if snap["xero_minute_remaining"] is not None:
        minute_left = min(minute_left, snap["xero_minute_remaining"])
    if snap["xero_day_remaining"] is not None:
        day_left = min(day_left, snap["xero_day_remaining"])
    return {
        "minute_left": max(0, minute_left),
        "day_left": max(0, day_left),
        "in_flight": snap["in_flight"],
        "closed_for_seconds": snap["closed_for"],
    }


def queue_depths(broker: redis.Redis) -> dict[str, int]:
    return {q: int(broker.llen(q)) for q in (celeryconfig.INVOICE_QUEUE, celeryconfig.SYNC_QUEUE)}


def status_report(
    session: Session, settings: Settings, client: redis.Redis, broker: redis.Redis
) -> dict[str, Any]:
    organisations = []
    for conn in session.scalars(select(Connection).order_by(Connection.id)):
        organisations.append(
            {
                "id": conn.id,
                "name": conn.tenant_name,
                "tenant_id": conn.tenant_id,
                "status": conn.status,
                "needs_reauthorisation": conn.status == ConnectionStatus.NEEDS_REAUTH.value,
                "status_reason": conn.status_reason,
                "template_contact_id": conn.template_contact_id,
                "last_pass": last_run(session, conn.id),
                "records": link_counts(session, conn.id),
                **scope_facts(conn, settings),
                "set_aside": set_aside_count(session, conn.id),
                "merges": merge_count(session, conn.id),
                "budget": budget_left(settings, client, conn.tenant_id),
            }
        )
    return {"organisations": organisations, "queues": queue_depths(broker)}


def scope_facts(conn: Connection, settings: Settings) -> dict[str, Any]:
    """The scopes Xero granted the connection, and a warning for a deprecated one."""
    from xerosync.connections import token_cipher
    from xerosync.xero.scopes import grant_warning, granted_scopes

    try:
        cipher = token_cipher(settings) if conn.token_encrypted else None
        return {
            "scopes": list(granted_scopes(conn, cipher)),
            "scope_warning": grant_warning(conn, cipher),
        }
    except Exception as exc:  # a wrong key is reported by other commands; not fatal here
        return {"scopes": None, "scope_warning": f"scopes unknown: {type(exc).__name__}"}


def _rows_of(session: Session, model: type[ImportReject] | type[ContactMerge], org: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(model).where(model.connection_id == org))
        or 0
    )


def set_aside_count(session: Session, connection_id: int) -> int:
    """Records from Xero the import could not store (see `xerosync errors`)."""
    return _rows_of(session, ImportReject, connection_id)


def merge_count(session: Session, connection_id: int) -> int:
    """Contacts merged in Xero whose customers followed the merge."""
    return _rows_of(session, ContactMerge, connection_id)


@dataclass(frozen=True)
class SetAsideRecord:
    organisation: str
    resource: str
    xero_id: str
    field: str | None
    message: str
    times: int
    since: str | None


def set_aside_records(session: Session) -> list[SetAsideRecord]:
    """What the import set aside: which Xero record, which field, and why."""
    query = (
        select(ImportReject, Connection.tenant_name)
        .join(Connection, Connection.id == ImportReject.connection_id)
        .order_by(ImportReject.resource, ImportReject.xero_id)
    )
    return [
        SetAsideRecord(
            organisation=org,
            resource=row.resource,
            xero_id=row.xero_id,
            field=row.field,
            message=row.message,
            times=row.times,
            since=_iso(row.first_seen),
        )
        for row, org in session.execute(query)
    ]


@dataclass(frozen=True)
class MergeRecord:
    organisation: str
    customer_id: int
    merged_contact_id: str
    survivor_contact_id: str
    survivor_customer_id: int | None
    at: str | None


def merges(session: Session) -> list[MergeRecord]:
    """Contacts merged in Xero, and where their customers went."""
    query = (
        select(ContactMerge, Connection.tenant_name)
        .join(Connection, Connection.id == ContactMerge.connection_id)
        .order_by(ContactMerge.id)
    )
    return [
        MergeRecord(
            organisation=org,
            customer_id=row.customer_id,
            merged_contact_id=row.merged_contact_id,
            survivor_contact_id=row.survivor_contact_id,
            survivor_customer_id=row.survivor_customer_id,
            at=_iso(row.detected_at),
        )
        for row, org in session.execute(query)
    ]


@dataclass(frozen=True)
class RecordError:
    kind: str
    local_id: int
    label: str
    organisation: str
    field: str | None
    message: str
    attempts: int
    since: str | None
    state: str = LinkStatus.ERROR.value


def record_errors(session: Session, kind: str | None = None) -> list[RecordError]:
    """Records Xero rejected (or that failed for good), with Xero's words and the field, and
    records deferred with a reason (a rate limit past the broker's wait, a connection that
    waits for re-authorisation)."""
    query = (
        select(XeroLink, Connection.tenant_name)
        .join(Connection, Connection.id == XeroLink.connection_id)
        .where(
            (XeroLink.status == LinkStatus.ERROR.value)
            | ((XeroLink.status == LinkStatus.DEFERRED.value) & XeroLink.last_error.is_not(None))
        )
        .order_by(XeroLink.kind, XeroLink.local_id)
    )
    if kind:
        query = query.where(XeroLink.kind == kind)
    found = []
    for link, org in session.execute(query):
        record = cast(
            Customer | Product | Order | None, session.get(RECORD_MODELS[link.kind], link.local_id)
        )
        found.append(
            RecordError(
                kind=link.kind,
                local_id=link.local_id,
                label=_label(record),
                organisation=org,
                field=link.last_error_field,
                message=link.last_error or "",
                attempts=link.attempts,
                since=_iso(link.updated_at),
                state=link.status,
            )
        )
    return found


def _label(record: Customer | Product | Order | None) -> str:
    if record is None:
        return "(deleted)"
    if isinstance(record, Customer):
        return record.name
    if isinstance(record, Product):
        return f"{record.code} {record.name}"
    return f"order {record.number or record.id}"
