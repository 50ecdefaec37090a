"""Pushing customers and products to Xero, in batches, with no call for unchanged records.

Customers: a customer without a Xero contact is first matched against the contacts already
linked in this organisation (same email, then exact name), then against what Xero gained
since the last import (`ChangedContacts`: one read per push, whatever the number of
customers; our ContactNumber, then email, then exact name), and linked instead of duplicated;
the rest are created (PUT, create-only) with the template ledger's defaults, and Xero's
duplicate-name and duplicate-ContactNumber refusals are the last nets (the contact is looked
up and linked). Linked customers whose pushed fields changed are updated (POST) with their
details only, never the template's fields.

Products: items are keyed by Code in Xero, so creates and updates are one POST that Xero
matches by Code (and by ItemID once linked): a product whose code Xero already holds links to
that item instead of duplicating it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select

from xerosync.db import once_more_on_lock_conflict
from xerosync.mapping.contacts import contact_number, contact_update, new_contact
from xerosync.mapping.items import item_payload
from xerosync.models import (
    Customer,
    LinkKind,
    LinkStatus,
    Product,
    SyncCursor,
    XeroLink,
    utcnow,
)
from xerosync.sync import audit, outbox, outcomes, pipeline, timeslice
from xerosync.sync.context import OrgContext
from xerosync.sync.pull import OWN_CONTACT_NUMBER, STREAMS_BY_NAME
from xerosync.xero import codec
from xerosync.xero.client import MAX_BATCH, ElementResult

log = logging.getLogger(__name__)


@dataclass
class PushReport:
    """Counts of one push, per outcome."""

    created: int = 0
    updated: int = 0
    linked: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0

    def add(self, other: PushReport) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _due(link: XeroLink, force: bool) -> bool:
    """Whether a push of this link's record should be tried now."""
    if link.status == LinkStatus.MERGED.value:
        return False
    if force:
        return True
    if link.status == LinkStatus.ERROR.value:
        return False
    if link.status == LinkStatus.DEFERRED.value and link.retry_after:
        return link.retry_after <= utcnow()
    return True


def _chunks(items: Sequence[Any], size: int = MAX_BATCH) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _updated_at(result: ElementResult) -> Any:
    record = result.record or {}
    return codec.parse_datetime(record.get("UpdatedDateUTC"))


# -- customers ---------------------------------------------------------------------------
class LinkedContacts:
    """Contacts already linked to other customers of this organisation, found by the emails
    and exact names of the customers about to be created: one query per push, whatever the
    number of customers, and memory bounded by the batch, not the organisation."""

    def __init__(self, ctx: OrgContext, customers: Sequence[Customer]) -> None:
        self.by_email: dict[str, XeroLink] = {}
        self.by_name: dict[str, XeroLink] = {}
        emails = sorted({c.email.strip().lower() for c in customers if c.email and c.email.strip()})
        names = sorted({c.name.strip() for c in customers if c.name and c.name.strip()})
        if not emails and not names:
            return
        # Two single-table queries, not a join: on freshly loaded tables (no statistics yet)
        # PostgreSQL planned the join as a nested loop over every link (seconds per batch).
        # Inactive customers are the CRM's copy of archived contacts: never linked by email or
        # name (see `ChangedContacts` for why).
        candidates = {
            customer_id: (email, name)
            for customer_id, email, name in ctx.session.execute(
                select(Customer.id, Customer.email, Customer.name).where(
                    Customer.connection_id == ctx.connection.id,
                    Customer.is_active.is_(True),
                    or_(func.lower(Customer.email).in_(emails), Customer.name.in_(names)),
                )
            )
        }
        if not candidates:
            return
        links = ctx.session.scalars(
            select(XeroLink)
            .where(
                XeroLink.connection_id == ctx.connection.id,
                XeroLink.kind == LinkKind.CONTACT.value,
                XeroLink.local_id.in_(sorted(candidates)),
                XeroLink.xero_id.is_not(None),
                # a customer merged in Xero keeps its archived contact: never taken over
                XeroLink.status != LinkStatus.MERGED.value,
            )
            .order_by(XeroLink.local_id)
        )
        for link in links:
            email, name = candidates[link.local_id]
            if email and email.strip():
                self.by_email.setdefault(email.strip().lower(), link)
            if name and name.strip():
                self.by_name.setdefault(name.strip(), link)

    def match(self, customer: Customer) -> XeroLink | None:
        """Another customer's link to the Xero contact this customer is (email, then name)."""
        email = (customer.email or "").strip().lower()
        for candidate in (
            self.by_email.get(email) if email else None,
            self.by_name.get((customer.name or "").strip()),
        ):
            if candidate is not None and candidate.xero_id and candidate.local_id != customer.id:
                return candidate
        return None


def _take_over(ctx: OrgContext, link: XeroLink, other: XeroLink, why: str) -> None:
    """Link `link`'s customer to `other`'s Xero contact; `other` stops being pushed."""
    xero_id = other.xero_id
    other.xero_id = None
    other.status = LinkStatus.MERGED.value
    other.last_error = f"its Xero contact now belongs to customer #{link.local_id} ({why})"
    ctx.session.flush()
    link.xero_id = xero_id
    link.pushed_fingerprint = None


CONTACTS_STREAM = STREAMS_BY_NAME["contacts"].name
"""The import's stream whose cursor says how far the CRM has seen Xero's contacts."""


@dataclass(frozen=True)
class FoundContact:
    """A contact Xero holds, as far as matching needs it."""

    contact_id: str
    status: str
    number: int | None
    """The CRM customer id in a ContactNumber xerosync set (`CRM-<id>`), if it is one."""
    email: str
    name: str

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


class ChangedContacts:
    """What Xero holds that the CRM has not seen yet: the contacts created or changed since the
    last import, indexed like the import's matching (our ContactNumber, then email
    case-insensitively, then exact name; `pull.UnlinkedCustomers`).

    Every contact older than the contacts cursor was imported, so it is a CRM customer's and
    `LinkedContacts` finds it; only what Xero gained after that, e.g. a contact the accounts
    team entered a minute ago, can be missing from the CRM. One read, `If-Modified-Since` the
    cursor, with archived contacts, whatever the number of customers to create: no `where` to
    build (Xero refuses query strings over about 2,048 characters, which a 50-customer OR
    filter exceeds several times over, and its `where` strings cannot hold a `"`), so no
    quoting and no URL-length split. Before the first import there is no cursor, and the read
    is the organisation's whole list (paged by 1000), as the first import's would be.

    Archived contacts are matched by our ContactNumber only (it is this customer's own
    contact, and Xero would refuse a second one with that number), never by email or name:
    the accounts team archived it, linking would make the update restore it (`ContactStatus`
    is one of the details sent), and an archived contact cannot be invoiced until restored.
    """

    def __init__(self, ctx: OrgContext, priority: str) -> None:
        cursor = ctx.session.get(SyncCursor, (ctx.connection.id, CONTACTS_STREAM))
        self.since = cursor.cursor if cursor is not None else None
        self.by_number: dict[int, FoundContact] = {}
        self.by_email: dict[str, FoundContact] = {}
        self.by_name: dict[str, FoundContact] = {}
        self.archived_emails: set[str] = set()
        self.archived_names: set[str] = set()
        self.claimed: set[str] = set()
        self.read = 0
        for row in ctx.client.rows(
            "Contacts", modified_since=self.since, include_archived=True, priority=priority
        ):
            self._add(row)

    def _add(self, row: dict[str, Any]) -> None:
        if not row.get("ContactID"):
            return
        number = OWN_CONTACT_NUMBER.match(str(row.get("ContactNumber") or ""))
        found = FoundContact(
            contact_id=str(row["ContactID"]),
            status=str(row.get("ContactStatus") or "ACTIVE"),
            number=int(number.group(1)) if number else None,
            email=str(row.get("EmailAddress") or "").strip().lower(),
            name=str(row.get("Name") or "").strip(),
        )
        self.read += 1
        if found.number is not None:
            self.by_number.setdefault(found.number, found)
        if found.active:
            if found.email:
                self.by_email.setdefault(found.email, found)
            if found.name:
                self.by_name.setdefault(found.name, found)
        else:
            self.archived_emails.add(found.email)
            self.archived_names.add(found.name)

    def take(self, customer: Customer) -> tuple[FoundContact, str] | None:
        """The contact this customer is, and by what (each contact matches one customer)."""
        email = (customer.email or "").strip().lower()
        name = (customer.name or "").strip()
        for found, why in (
            (self.by_number.get(customer.id), "ContactNumber"),
            (self.by_email.get(email) if email else None, "email"),
            (self.by_name.get(name) if name else None, "name"),
        ):
            if found is not None and found.contact_id not in self.claimed:
                self.claimed.add(found.contact_id)
                return found, why
        if (email and email in self.archived_emails) or (name and name in self.archived_names):
            log.info(
                "customer #%d: Xero's contact of the same email or name is archived; "
                "a new contact is created instead of restoring it",
                customer.id,
            )
        return None


def _link_found(
    ctx: OrgContext, creates: list[Row], updates: list[Row], report: PushReport, priority: str
) -> list[Row]:
    """Link the customers about to be created whose contact Xero gained since the last import;
    they get the CRM's details as an update (never the template's fields). The rest is
    returned, still to be created."""
    changed = ChangedContacts(ctx, priority)
    matched = [(row, changed.take(row[0])) for row in creates]
    ids = sorted({hit[0].contact_id for _, hit in matched if hit is not None})
    holders = (
        {
            str(link.xero_id): link
            for link in ctx.session.scalars(
                select(XeroLink).where(
                    XeroLink.connection_id == ctx.connection.id,
                    XeroLink.kind == LinkKind.CONTACT.value,
                    XeroLink.xero_id.in_(ids),
                )
            )
        }
        if ids
        else {}
    )
    remaining: list[Row] = []
    for row, hit in matched:
        if hit is None:
            remaining.append(row)
            continue
        customer, link, _current = row
        found, why = hit
        holder = holders.get(found.contact_id)
        if holder is not None:  # another customer's: the existing take-over rule
            _take_over(ctx, link, holder, f"same {why} in Xero")
        else:
            link.xero_id = found.contact_id
            link.pushed_fingerprint = None
        log.info(
            "customer #%d linked to Xero contact %s (same %s, entered in Xero since the last "
            "import)",
            customer.id,
            found.contact_id,
            why,
        )
        updates.append(row)
        report.linked += 1
    return remaining


def _link_by_name(ctx: OrgContext, link: XeroLink, name: str, priority: str) -> bool:
    """After Xero's duplicate-name refusal: link the active contact of that name.

    Xero's `where` has no escape for a quote (`\\"` is a syntax error; a backslash is a plain
    character to its parser), so a name holding `"` or `\\` is looked up with `searchTerm`
    (it matches Name, FirstName, LastName, ContactNumber, EmailAddress: XERO_FACTS §4) and
    the exact name is picked out here.
    """
    if '"' in name or "\\" in name:
        query: dict[str, Any] = {"params": {"searchTerm": name}}
    else:
        query = {"where": f'Name=="{name}"'}
    found = [
        c
        for c in ctx.client.rows("Contacts", priority=priority, **query)
        if str(c.get("Name", "")).strip() == name and c.get("ContactStatus", "ACTIVE") == "ACTIVE"
    ]
    if len(found) != 1:
        return False
    contact_id = str(found[0]["ContactID"])
    holder = ctx.session.scalars(
        select(XeroLink).where(
            XeroLink.connection_id == ctx.connection.id,
            XeroLink.kind == LinkKind.CONTACT.value,
            XeroLink.xero_id == contact_id,
        )
    ).first()
    if holder is not None and holder is not link:
        _take_over(ctx, link, holder, "same name")
    else:
        link.xero_id = contact_id
        link.pushed_fingerprint = None
    return True


def _fresh() -> str:
    """An Idempotency-Key of its own for an update.

    Updates are idempotent by content, so a repeat does no harm; a key derived from the
    content would instead make Xero *replay* an earlier answer without applying the write
    when the same version must be sent again (after a late, older write overwrote it).
    Creates keep the content-derived key: their repeat would duplicate the record.
    """
    return f"xerosync-update-{uuid.uuid4().hex}"


Row = tuple[Any, XeroLink, str]
"""(CRM record, its link, the fingerprint being sent)."""


def _before_write(ctx: OrgContext, batch: Sequence[Row]) -> None:
    """Put on record the versions about to be written, before the write can happen."""
    for _record, link, current in batch:
        outbox.note_sending(link, current)
    ctx.session.commit()


@dataclass(frozen=True)
class Outgoing:
    """One write batch, built on the session's thread: its rows and the plain data sent."""

    rows: Sequence[Row]
    ids: list[int]
    payloads: list[dict[str, Any]]


def _write_all(
    ctx: OrgContext,
    resource: str,
    method: str,
    rows: Sequence[Row],
    payload: Callable[[Any, XeroLink], dict[str, Any]],
    apply: Callable[[Outgoing, list[ElementResult]], None],
    *,
    priority: str,
    update: bool,
) -> None:
    """Write `rows` in batches of 50, several in flight (see pipeline); `apply` each answer.

    Batches are built (and updates put on record, see `_before_write`) on this thread just
    before they are sent; the send touches no database row, so it may run on any thread.
    Updates carry keys of their own (`_fresh`); creates keep the content-derived one.
    """
    batches = _chunks(rows)
    kind = audit.KINDS[resource]

    def outgoing() -> Iterator[Outgoing]:
        for batch in batches:
            payloads = [payload(record, link) for record, link, _ in batch]
            if update:
                _before_write(ctx, batch)
            yield Outgoing(batch, [record.id for record, _, _ in batch], payloads)

    def send(out: Outgoing) -> list[ElementResult]:
        with audit.writing(kind, out.ids):
            return ctx.client.save(
                resource,
                out.payloads,
                method=method,
                priority=priority,
                idempotency_key=_fresh() if update else None,
            )

    width = min(len(batches), ctx.writes_in_flight)
    pipeline.send_batches(outgoing(), send, apply, width=width)


def _link_existing(
    ctx: OrgContext, link: XeroLink, customer: Customer, result: ElementResult, priority: str
) -> bool:
    """The last nets after a refused create: our own ContactNumber, then the same name."""
    if outcomes.is_duplicate_number(result):
        contact = ctx.client.get("Contacts", contact_number(customer.id), priority=priority)
        link.xero_id = str(contact["ContactID"])
        link.pushed_fingerprint = None
        return True
    if outcomes.is_duplicate_name(result):
        return _link_by_name(ctx, link, customer.name.strip(), priority)
    return False


def _take_template_discount(ctx: OrgContext, creates: list[Row], discount: Decimal) -> list[Row]:
    """New customers without a discount take the template's, on their rows in the CRM, before
    their contacts are created. Returns `creates` with what is sent fingerprinted again.

    Lock order (`outbox`): this transaction has written links already (the outbox's marks,
    take-overs), so it is committed first and the rows are written in a short transaction of
    their own, taken in id order before any link: no customer's row is held while Xero is
    called. Each row is read again as it is now (the CRM may have changed it, or set a
    discount, since); the fingerprint sent is of the row as read.
    """
    waiting = [customer for customer, _, _ in creates if customer.default_discount is None]
    if not waiting:
        return creates
    ctx.session.commit()

    def write() -> None:
        outbox.lock_records(ctx.session, Customer, (c.id for c in waiting))
        for customer in waiting:
            if customer.default_discount is None:
                customer.default_discount = discount
        ctx.session.commit()

    once_more_on_lock_conflict(
        write, "the template's discount on new customers", undo=ctx.session.rollback
    )
    return [(c, link, outbox.desired_fingerprint(c)) for c, link, _ in creates]


def push_customers(
    ctx: OrgContext,
    customers: Sequence[Customer],
    *,
    priority: str = "routine",
    force: bool = False,
) -> PushReport:
    """Create or update the Xero contacts of `customers`; unchanged ones cost nothing."""
    report = PushReport()
    creates: list[Row] = []
    updates: list[Row] = []
    links = outbox.mark_all_saved(ctx.session, customers)
    unlinked = [c for c in customers if links[c].xero_id is None and _due(links[c], force)]
    linked = LinkedContacts(ctx, unlinked)
    for customer in customers:
        link = links[customer]
        current = link.fingerprint or outbox.desired_fingerprint(customer)
        if not _due(link, force):
            report.skipped += 1
            continue
        if link.xero_id is None:
            other = linked.match(customer)
            if other is not None:
                _take_over(ctx, link, other, "same email or name")
                report.linked += 1
        if link.xero_id is None:
            creates.append((customer, link, current))
        elif link.pushed_fingerprint != current:
            updates.append((customer, link, current))
        else:
            outbox.mark_in_sync(link, link.xero_id, current)
            report.unchanged += 1

    if creates:
        creates = _link_found(ctx, creates, updates, report, priority)
    if creates:
        template = ctx.template(priority)
        if template and template.discount:
            creates = _take_template_discount(ctx, creates, template.discount)

        def created(out: Outgoing, results: list[ElementResult]) -> None:
            for (customer, link, current), result in zip(out.rows, results, strict=True):
                if result.ok and result.id:
                    outbox.mark_in_sync(link, result.id, current, _updated_at(result))
                    report.created += 1
                elif _link_existing(ctx, link, customer, result, priority):
                    updates.append((customer, link, current))
                    report.linked += 1
                else:
                    outcomes.reject(link, result)
                    report.rejected += 1
            ctx.session.commit()  # what Xero now holds is on record

        _write_all(
            ctx,
            "Contacts",
            "PUT",
            creates,
            lambda customer, _link: new_contact(customer, template),
            created,
            priority=priority,
            update=False,
        )

    def updated(out: Outgoing, results: list[ElementResult]) -> None:
        for (_customer, link, current), result in zip(out.rows, results, strict=True):
            if result.ok:
                outbox.mark_in_sync(
                    link, result.id or str(link.xero_id), current, _updated_at(result)
                )
                report.updated += 1
            else:
                outcomes.reject(link, result)
                report.rejected += 1
        ctx.session.commit()

    # A customer whose contact another one took over in this push (`_take_over`) has none
    # left to update.
    updates = [row for row in updates if row[1].xero_id is not None]
    _write_all(
        ctx,
        "Contacts",
        "POST",
        updates,
        lambda customer, link: contact_update(customer, str(link.xero_id)),
        updated,
        priority=priority,
        update=True,
    )
    ctx.session.flush()
    return report


# -- products ----------------------------------------------------------------------------
def push_products(
    ctx: OrgContext,
    products: Sequence[Product],
    *,
    priority: str = "routine",
    force: bool = False,
) -> PushReport:
    """Create or update the Xero items of `products` (matched by Code); unchanged: no call."""
    report = PushReport()
    due: list[tuple[Product, XeroLink, str]] = []
    links = outbox.mark_all_saved(ctx.session, products)
    for product in products:
        link = links[product]
        current = link.fingerprint or outbox.desired_fingerprint(product)
        if not _due(link, force):
            report.skipped += 1
        elif link.xero_id is not None and link.pushed_fingerprint == current:
            outbox.mark_in_sync(link, link.xero_id, current)
            report.unchanged += 1
        else:
            due.append((product, link, current))

    def saved(out: Outgoing, results: list[ElementResult]) -> None:
        for (_product, link, current), result in zip(out.rows, results, strict=True):
            if result.ok and result.id:
                new = link.xero_id is None
                outbox.mark_in_sync(link, result.id, current, _updated_at(result))
                if new:
                    report.created += 1
                else:
                    report.updated += 1
            else:
                outcomes.reject(link, result)
                report.rejected += 1
        ctx.session.commit()

    _write_all(
        ctx,
        "Items",
        "POST",
        due,
        lambda product, link: item_payload(product, link.xero_id),
        saved,
        priority=priority,
        update=True,
    )
    ctx.session.flush()
    return report


# -- everything pending ------------------------------------------------------------------
def _examined_chunks(
    ctx: OrgContext, model: type[Customer] | type[Product], kind: LinkKind, size: int
) -> Iterator[list[tuple[Any, XeroLink | None]]]:
    """The organisation's records the pass must look at, with their links, `size` at a time
    in id order: those with no link yet, those whose `row_version` moved since their link
    last fingerprinted them (a write, ORM or not) and those already pending or deferred.

    The database does the choosing (one indexed join), so an idle pass reads no rows.
    """
    last_id = 0
    while True:
        chunk: list[tuple[Any, XeroLink | None]] = [
            (record, link)
            for record, link in ctx.session.execute(
                select(model, XeroLink)
                .outerjoin(
                    XeroLink,
                    and_(
                        XeroLink.connection_id == model.connection_id,
                        XeroLink.kind == kind.value,
                        XeroLink.local_id == model.id,
                    ),
                )
                .where(
                    model.connection_id == ctx.connection.id,
                    model.id > last_id,
                    or_(
                        XeroLink.id.is_(None),
                        XeroLink.seen_version.is_distinct_from(model.row_version),
                        XeroLink.status.in_((LinkStatus.PENDING.value, LinkStatus.DEFERRED.value)),
                    ),
                )
                .order_by(model.id)
                .limit(size)
            )
        ]
        if not chunk:
            return
        last_id = chunk[-1][0].id
        yield chunk


def due_in(ctx: OrgContext, pairs: Sequence[tuple[Any, XeroLink | None]]) -> list[Any]:
    """Which of the examined records need a push now.

    Fingerprints are re-derived only for records whose version moved (`outbox.note_moved`),
    so rows written around the ORM are found at a cost in proportion to what changed; this
    costs no call to Xero.
    """
    links = outbox.note_moved(ctx.session, pairs)
    return [
        record
        for record, _link in pairs
        if links[record].status in (LinkStatus.PENDING.value, LinkStatus.DEFERRED.value)
        and _due(links[record], force=False)
    ]


def push_pending(
    ctx: OrgContext,
    *,
    priority: str = "routine",
    chunk_size: int = 1000,
    reports: dict[str, PushReport] | None = None,
) -> dict[str, PushReport]:
    """Push every customer and product of this organisation that is still pending.

    Records are examined `chunk_size` at a time and each chunk is committed and dropped from
    the session before the next, so memory stays flat however large the organisation; due
    records are sent in full batches of 50 across chunk boundaries. `reports` is filled as
    chunks are committed, so a pass stopped part-way (time slice, rate limit) still counts
    what it pushed.
    """
    if reports is None:
        reports = {}
    for name in ("contacts", "items"):
        reports.setdefault(name, PushReport())
    plan: tuple[tuple[str, type[Customer] | type[Product], LinkKind, Any], ...] = (
        ("contacts", Customer, LinkKind.CONTACT, push_customers),
        ("items", Product, LinkKind.ITEM, push_products),
    )
    for name, model, kind, push in plan:
        carry: list[Any] = []  # due records short of a full batch wait for the next chunk
        for chunk in _examined_chunks(ctx, model, kind, chunk_size):
            carry.extend(due_in(ctx, chunk))
            full = len(carry) // MAX_BATCH * MAX_BATCH
            if full:
                reports[name].add(push(ctx, carry[:full], priority=priority))
                carry = carry[full:]
            ctx.session.commit()
            timeslice.check(ctx.time_slice)  # the chunk is answered and committed
            keep = set(carry)
            for instance in list(ctx.session):
                if instance not in keep:
                    ctx.session.expunge(instance)
        if carry:
            reports[name].add(push(ctx, carry, priority=priority))
            ctx.session.commit()
    return reports
