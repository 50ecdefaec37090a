"""The database as the outbox.

Every customer and product has a link row per organisation (`XeroLink`). Saving the record
sets the link's `fingerprint` to the fingerprint of what a push would send; the record needs
a push exactly while that differs from `pushed_fingerprint`. The ORM hook below does this in
the same transaction as the save, so a change made while the broker is down is still found by
the next routine pass.

Rows written around the ORM (raw SQL, another application) are found without re-deriving
every fingerprint: a database trigger moves the row's `row_version` on every UPDATE
(`xerosync.models.versioning`) and the link remembers the version it last fingerprinted
(`seen_version`). The pass asks the database only for rows whose version moved, rows with no
link yet and links already pending (`note_moved`), so an idle pass costs one query per kind.

Lock order. A transaction that writes a record (customer, product) and its link takes the
record's row first, then the link's, and the rows of a batch in id order, so two such
transactions never wait for each other in a circle (on PostgreSQL: `DeadlockDetected`). The
CRM's save keeps it by itself: the flush writes the record, this module's hook then marks its
link, written by the next flush (and one flush writes its records before any link, each table
in id order). xerosync's own writers keep it too:

- the import takes the rows of the records a page may write `FOR UPDATE`, in id order
  (`lock_records`), before it touches their links, and reads those links again once it holds
  them (what the CRM committed meanwhile is then seen, never overwritten);
- the push writes no record in a transaction that wrote links: new customers' template
  discount is written in a short transaction of its own, rows first (`push`);
- everything else writes links only, which needs no record's row.

A pass that finds nothing to write takes no lock. Another writer may still take rows in
another order (a CRM saving several customers out of id order): xerosync's transaction is
then run again once (`db.once_more_on_lock_conflict`), and its retry policy takes it from
there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from xerosync.mapping.contacts import contact_details
from xerosync.mapping.fingerprint import fingerprint
from xerosync.mapping.items import item_payload
from xerosync.models import Customer, LinkKind, LinkStatus, Product, XeroLink

TRACKED = (Customer, Product)


def kind_of(record: Customer | Product) -> LinkKind:
    return LinkKind.CONTACT if isinstance(record, Customer) else LinkKind.ITEM


def desired_fingerprint(record: Customer | Product) -> str:
    """Fingerprint of what a push of `record` would send now."""
    if isinstance(record, Customer):
        return fingerprint(contact_details(record))
    return fingerprint(item_payload(record))


def get_link(
    session: Session, connection_id: int, kind: LinkKind, local_id: int
) -> XeroLink | None:
    return session.scalars(
        select(XeroLink).where(
            XeroLink.connection_id == connection_id,
            XeroLink.kind == kind.value,
            XeroLink.local_id == local_id,
        )
    ).first()


def link_for(session: Session, connection_id: int, kind: LinkKind, local_id: int) -> XeroLink:
    """The link row of a record, created (pending) if it has none yet."""
    link = get_link(session, connection_id, kind, local_id)
    if link is None:
        link = XeroLink(
            connection_id=connection_id,
            kind=kind.value,
            local_id=local_id,
            status=LinkStatus.PENDING.value,
            attempts=0,
        )
        session.add(link)
    return link


def links_for(
    session: Session, connection_id: int, kind: LinkKind, local_ids: Iterable[int]
) -> dict[int, XeroLink]:
    """The link rows of many records at once (one query per 500), creating missing ones."""
    wanted = sorted(set(local_ids))
    found: dict[int, XeroLink] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            (link.local_id, link)
            for link in session.scalars(
                select(XeroLink).where(
                    XeroLink.connection_id == connection_id,
                    XeroLink.kind == kind.value,
                    XeroLink.local_id.in_(chunk),
                )
            )
        )
    for local_id in wanted:
        if local_id not in found:
            found[local_id] = XeroLink(
                connection_id=connection_id,
                kind=kind.value,
                local_id=local_id,
                status=LinkStatus.PENDING.value,
                attempts=0,
            )
            session.add(found[local_id])
    return found


def lock_records(
    session: Session, model: type[Customer] | type[Product], ids: Iterable[int]
) -> dict[int, Any]:
    """Take these records' rows `FOR UPDATE`, in id order, and return them as the database
    holds them now (read again, also where the session had them already).

    The first half of the lock order (module docstring): call it before the transaction
    writes any of their links. Nothing pending is flushed first (that could write a link).
    SQLite has no row locks (a writer holds the whole database): there it is a plain read.
    """
    wanted = sorted(set(ids))
    found: dict[int, Any] = {}
    with session.no_autoflush:
        for start in range(0, len(wanted), 500):
            rows: Iterable[Customer | Product] = session.scalars(
                select(model)
                .where(model.id.in_(wanted[start : start + 500]))
                .order_by(model.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            found.update((record.id, record) for record in rows)
    return found


def note_current(link: XeroLink, current: str) -> None:
    """Record the record's current fingerprint and whether it now needs a push."""
    if link.status == LinkStatus.MERGED.value:
        return
    changed = current != link.fingerprint
    link.fingerprint = current
    if current == link.pushed_fingerprint and link.xero_id:
        if link.status in (LinkStatus.PENDING.value, LinkStatus.ERROR.value):
            link.status = LinkStatus.SYNCED.value
            link.last_error = link.last_error_field = None
        return
    retry_error = changed and link.status == LinkStatus.ERROR.value
    if link.status == LinkStatus.SYNCED.value or retry_error:
        # An error is retried once the record changes; a deferral keeps its time.
        link.status = LinkStatus.PENDING.value
        link.attempts = 0


def mark_saved(session: Session, record: Customer | Product) -> XeroLink:
    """What a save does: keep the record's link in step with its fields."""
    return mark_all_saved(session, [record])[record]


def mark_all_saved(
    session: Session, records: Iterable[Customer | Product]
) -> dict[Customer | Product, XeroLink]:
    """`mark_saved` for many records, with one link query per organisation and kind."""
    groups: dict[tuple[int, LinkKind], list[Customer | Product]] = {}
    for record in records:
        groups.setdefault((record.connection_id, kind_of(record)), []).append(record)
    marked: dict[Customer | Product, XeroLink] = {}
    for (connection_id, kind), group in groups.items():
        links = links_for(session, connection_id, kind, (r.id for r in group))
        for record in group:
            note_current(links[record.id], desired_fingerprint(record))
            marked[record] = links[record.id]
    return marked


def note_moved(
    session: Session, pairs: Sequence[tuple[Customer | Product, XeroLink | None]]
) -> dict[Customer | Product, XeroLink]:
    """The links of records read with their link (None: none yet), fingerprints re-derived
    only where the record's `row_version` moved since its link last saw it.

    The version and the fields come from the same SELECT, so a write that lands after it
    moves the version again and the next pass sees that one too.
    """
    new = mark_all_saved(session, [record for record, link in pairs if link is None])
    links: dict[Customer | Product, XeroLink] = {}
    for record, link in pairs:
        if link is None:
            link = new[record]
        elif link.seen_version != record.row_version:
            note_current(link, desired_fingerprint(record))
        link.seen_version = record.row_version
        links[record] = link
    return links


DOUBT_SECONDS = 900.0
"""How long a write whose answer was lost may still land in Xero (far beyond any timeout)."""


def note_sending(link: XeroLink, fingerprint_: str) -> None:
    """Put a write on record before it is sent: it stays *in doubt* until Xero confirms it."""
    link.sent_fingerprints = [*(link.sent_fingerprints or []), [fingerprint_, time.time()]][-10:]


def note_confirmed(link: XeroLink, fingerprint_: str) -> None:
    """Xero answered the write of this version: it is no longer in doubt."""
    if link.sent_fingerprints:
        link.sent_fingerprints = [e for e in link.sent_fingerprints if e[0] != fingerprint_]


def writes_in_doubt(link: XeroLink) -> bool:
    """A recent write of this record got no answer: Xero may still apply it, late."""
    horizon = time.time() - DOUBT_SECONDS
    return any(at >= horizon for _fp, at in link.sent_fingerprints or [])


def forget_doubts(link: XeroLink) -> None:
    link.sent_fingerprints = None


def mark_in_sync(
    link: XeroLink, xero_id: str, pushed: str, xero_updated_at: datetime | None = None
) -> None:
    """Xero now holds exactly what `pushed` fingerprints (after a push or an import)."""
    note_confirmed(link, pushed)
    link.xero_id = xero_id
    link.fingerprint = link.pushed_fingerprint = pushed
    link.status = LinkStatus.SYNCED.value
    link.last_error = link.last_error_field = None
    link.attempts = 0
    link.retry_after = None
    if xero_updated_at is not None:
        link.xero_updated_at = xero_updated_at


CALLER_MARKS = "xerosync_caller_marks"


def marked_by_caller(session: Session, records: Iterable[Customer | Product]) -> None:
    """The caller sets these records' links itself (the import: `mark_in_sync`), so the next
    flush that writes them leaves their links alone instead of deriving each fingerprint and
    reading each link a second time."""
    session.info.setdefault(CALLER_MARKS, set()).update(records)


def _collect(session: Session, _context: Any) -> None:
    """Before the flush's lists are cleared: note which tracked records it wrote."""
    saved = session.info.setdefault("xerosync_saved", set())
    theirs = session.info.pop(CALLER_MARKS, set())
    for record in (*session.new, *session.dirty):
        if isinstance(record, TRACKED) and record not in theirs:
            saved.add(record)


def _forget_caller_marks(session: Session, *_args: Any) -> None:
    session.info.pop(CALLER_MARKS, None)


def _mark(session: Session, _context: Any) -> None:
    """After the flush (ids assigned): bring their links in step; the next flush writes them."""
    saved = session.info.pop("xerosync_saved", set())
    mark_all_saved(
        session,
        (r for r in saved if r.id is not None and r.connection_id and r in session),
    )


_installed = False


def install() -> None:
    """Mark saved customers and products in every session (idempotent)."""
    global _installed
    if not _installed:
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_flush_postexec", _mark)
        event.listen(Session, "after_soft_rollback", _forget_caller_marks)
        _installed = True
