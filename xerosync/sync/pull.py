"""Import: Xero's contacts, items, sales invoices and sales credit notes into the CRM.

Streams are declared as data: the resource, the filter Xero applies *in the request* (bills
and supplier credit notes are never asked for), whether archived records come too, and the
function that applies one page. Each stream keeps a cursor per organisation, the largest
`UpdatedDateUTC` of a committed page, and the next pass asks with `If-Modified-Since`. Pages
arrive oldest change first, so a pass cut short resumes where it stopped. Memory stays bounded:
a page is applied, committed and dropped before the next one is read.

The cursor's second: `If-Modified-Since` is to the second and takes records updated *in* that
second, so asking from the cursor brings back every record of the cursor's second on every
pass (a bulk import in Xero puts thousands in one second: 33 calls and 32 MB per idle pass).
Xero's clock tells when that second is over: the response's `DateTimeUTC`. Once a complete
read from at most the cursor's second began (by Xero's clock) `SECOND_SETTLES_AFTER` past the
end of that second, nothing new can appear in it, and the next read asks from the next second
(`read_since`). Until then the second is read again: correctness first.

No echo: a record updated by import gets its link's pushed fingerprint set to what the CRM now
holds, so it is not pushed back. Conflict (changed in the CRM since its last push *and* in
Xero since it was last seen): the most recent change wins, a tie goes to Xero, and the
conflict is recorded in `sync_conflicts`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from marshmallow.exceptions import MarshmallowError
from sqlalchemy import delete, event, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from xerosync.db import lock_conflict, once_more_on_lock_conflict
from xerosync.mapping.contacts import CONTACT_NUMBER_PREFIX, customer_fields
from xerosync.mapping.invoices import credit_note_fields, invoice_fields, line_fields
from xerosync.mapping.items import product_fields
from xerosync.models import (
    ContactMerge,
    CreditNote,
    CreditNoteLine,
    Customer,
    ImportReject,
    Invoice,
    InvoiceLine,
    LinkKind,
    LinkStatus,
    Order,
    Product,
    SyncConflict,
    SyncCursor,
    XeroLink,
    utcnow,
)
from xerosync.sync import outbox, timeslice, vanished
from xerosync.sync.context import OrgContext
from xerosync.xero.schemas import load_many
from xerosync.xero.spend import spending_as

log = logging.getLogger(__name__)

Counts = dict[str, int]
OWN_CONTACT_NUMBER = re.compile(rf"^{re.escape(CONTACT_NUMBER_PREFIX)}(\d+)$")


@dataclass(frozen=True)
class Stream:
    """One kind of Xero record brought into the CRM."""

    name: str
    resource: str
    where: str | None
    include_archived: bool
    apply: Callable[[OrgContext, list[dict[str, Any]], Counts], None]


# -- helpers -------------------------------------------------------------------------------
def _set(record: Any, fields: Mapping[str, Any]) -> bool:
    """Assign `fields`; True when anything actually changed."""
    changed = False
    for name, value in fields.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    return changed


def _links(
    ctx: OrgContext, kind: LinkKind, xero_ids: Iterable[str], *, fresh: bool = False
) -> dict[str, XeroLink]:
    """The links of these Xero ids (`fresh`: read again even where the session has them)."""
    ids = [i for i in xero_ids if i]
    if not ids:
        return {}
    found = ctx.session.scalars(
        select(XeroLink)
        .where(
            XeroLink.connection_id == ctx.connection.id,
            XeroLink.kind == kind.value,
            XeroLink.xero_id.in_(ids),
        )
        .execution_options(populate_existing=fresh)
    )
    return {str(link.xero_id): link for link in found}


def _written_by_page(
    links: Mapping[str, XeroLink], rows: Iterable[Mapping[str, Any]], id_key: str
) -> set[int]:
    """The linked records a page may write: those whose Xero record changed since their link
    last saw it (`_apply_linked`), or was merged into another (`follow_merges`)."""
    ids: set[int] = set()
    for row in rows:
        link = links.get(str(row.get(id_key) or ""))
        if link is None or link.status == LinkStatus.MERGED.value:
            continue
        if row.get("MergedToContactID") or _seen_newer(link, row.get("UpdatedDateUTC")):
            ids.add(link.local_id)
    return ids


def _hold_records(
    ctx: OrgContext,
    model: type[Customer] | type[Product],
    kind: LinkKind,
    ids: set[int],
    xero_ids: list[str],
    records: dict[int, Any],
) -> dict[str, XeroLink] | None:
    """Lock order (`outbox`): take the rows of the records the page may write, in id order,
    before the page writes any link; then read the page's links again, as they are now that
    no CRM save of those records is half done. None (and no query) when nothing is written.
    """
    if not ids:
        return None
    records.update(outbox.lock_records(ctx.session, model, ids))
    return _links(ctx, kind, xero_ids, fresh=True)


def _changed_in_crm(link: XeroLink) -> bool:
    return bool(link.xero_id) and link.fingerprint != link.pushed_fingerprint


def _settle_conflict(
    ctx: OrgContext, link: XeroLink, crm_changed: datetime | None, xero_changed: datetime | None
) -> str:
    """Both sides changed: the most recent change wins, a tie goes to Xero. Recorded."""
    crm_wins = crm_changed is not None and (xero_changed is None or crm_changed > xero_changed)
    winner = "crm" if crm_wins else "xero"
    _record_conflict(ctx, link, winner, crm_changed, xero_changed)
    return winner


def _record_conflict(
    ctx: OrgContext,
    link: XeroLink,
    winner: str,
    crm_changed: datetime | None,
    xero_changed: datetime | None,
) -> None:
    ctx.session.add(
        SyncConflict(
            connection_id=ctx.connection.id,
            kind=link.kind,
            local_id=link.local_id,
            xero_id=str(link.xero_id),
            winner=winner,
            crm_changed_at=crm_changed,
            xero_changed_at=xero_changed,
        )
    )


def _seen_newer(link: XeroLink, updated: datetime | None) -> bool:
    return updated is None or link.xero_updated_at is None or updated > link.xero_updated_at


def _apply_linked(
    ctx: OrgContext,
    link: XeroLink,
    record: Customer | Product,
    fields: Mapping[str, Any],
    updated: datetime | None,
    counts: Counts,
) -> None:
    """Bring a linked record up to Xero's version (unless the CRM's newer change wins)."""
    if not _seen_newer(link, updated):
        counts["unchanged"] += 1
        return
    if outbox.writes_in_doubt(link):
        # A write of ours got no answer and may have landed late, over a newer one: what
        # Xero shows may be the CRM's own old version. The CRM's current one is sent again.
        counts["conflicts"] += 1
        _record_conflict(ctx, link, "crm", record.updated_at, updated)
        link.pushed_fingerprint = None
        link.xero_updated_at = updated
        outbox.forget_doubts(link)
        outbox.note_current(link, outbox.desired_fingerprint(record))
        return
    if _changed_in_crm(link):
        counts["conflicts"] += 1
        if _settle_conflict(ctx, link, record.updated_at, updated) == "crm":
            link.xero_updated_at = updated  # seen; the CRM's version is pushed next
            return
    if _set(record, fields):
        counts["updated"] += 1
        outbox.marked_by_caller(ctx.session, [record])
    else:
        counts["unchanged"] += 1
    outbox.mark_in_sync(link, str(link.xero_id), outbox.desired_fingerprint(record), updated)


# -- contacts ------------------------------------------------------------------------------
def _own_number(contact: Mapping[str, Any]) -> int | None:
    """The CRM customer id in a ContactNumber xerosync set (`CRM-<id>`), if it is one."""
    number = OWN_CONTACT_NUMBER.match(str(contact.get("ContactNumber") or ""))
    return int(number.group(1)) if number else None


class UnlinkedCustomers:
    """The CRM customers with no Xero contact yet that some of `contacts` may be (our
    ContactNumber, then email, then exact name), indexed for matching.

    One query per page, asking only for the page's numbers, emails and names: a backlog of
    thousands of customers waiting for their first push costs a page nothing, and a page
    whose contacts are all linked already (the pass reading back its own pushes) no query.
    """

    def __init__(self, ctx: OrgContext, contacts: Iterable[Mapping[str, Any]]) -> None:
        self.by_id: dict[int, Customer] = {}
        self.by_email: dict[str, Customer] = {}
        self.by_name: dict[str, Customer] = {}
        numbers: set[int] = set()
        emails: set[str] = set()
        names: set[str] = set()
        for contact in contacts:
            number = _own_number(contact)
            if number is not None:
                numbers.add(number)
            email = str(contact.get("EmailAddress") or "").strip().lower()
            if email:
                emails.add(email)
            names.add(str(contact.get("Name") or ""))
        if not names:
            return
        linked = select(XeroLink.local_id).where(
            XeroLink.connection_id == ctx.connection.id,
            XeroLink.kind == LinkKind.CONTACT.value,
            XeroLink.xero_id.is_not(None),
        )
        for customer in ctx.session.scalars(
            select(Customer)
            .where(
                Customer.connection_id == ctx.connection.id,
                Customer.id.not_in(linked),
                or_(
                    Customer.id.in_(sorted(numbers)),
                    func.lower(func.trim(Customer.email)).in_(sorted(emails)),
                    Customer.name.in_(sorted(names)),
                ),
            )
            .order_by(Customer.id)
        ):
            self.by_id[customer.id] = customer
            if customer.email and customer.email.strip():
                self.by_email.setdefault(customer.email.strip().lower(), customer)
            self.by_name.setdefault(customer.name, customer)

    def take(self, contact: Mapping[str, Any]) -> Customer | None:
        """The customer this contact is, removed from the index (each matches once)."""
        number = _own_number(contact)
        email = str(contact.get("EmailAddress") or "").strip().lower()
        candidates = (
            self.by_id.get(number) if number is not None else None,
            self.by_email.get(email) if email else None,
            self.by_name.get(str(contact.get("Name") or "")),
        )
        for customer in candidates:
            if customer is not None and customer.id in self.by_id:
                del self.by_id[customer.id]
                return customer
        return None


def _by_id(ctx: OrgContext, model: type[Any], ids: Iterable[int]) -> dict[int, Any]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {row.id: row for row in ctx.session.scalars(select(model).where(model.id.in_(wanted)))}


MAX_MERGE_HOPS = 10


def survivor_of(ctx: OrgContext, merged_into: Mapping[str, str], contact_id: str) -> str:
    """The contact a merged one ends at, following merges on this page and recorded ones."""
    current = contact_id
    for _ in range(MAX_MERGE_HOPS):
        following = (
            merged_into.get(current)
            or ctx.session.scalars(
                select(ContactMerge.survivor_contact_id)
                .where(
                    ContactMerge.connection_id == ctx.connection.id,
                    ContactMerge.merged_contact_id == current,
                )
                .order_by(ContactMerge.id.desc())
            ).first()
        )
        if not following or following == current:
            return current
        current = following
    return current


def follow_merges(
    ctx: OrgContext,
    contacts: list[dict[str, Any]],
    links: dict[str, XeroLink],
    customers: Mapping[int, Customer],
    counts: Counts,
) -> set[str]:
    """Customers whose contact was merged in Xero follow the merge to the surviving contact.

    Unlinked survivor: the customer's link moves to it (and the survivor's own record, on
    this page or a later one, brings the merged details in). A survivor that is another
    customer's contact: the customer's link is MERGED (never pushed) and its orders invoice
    the survivor. Either way the merge is recorded in `contact_merges`. Returns the merged
    contacts' ids, which are not imported as customers of their own.
    """
    merged_into = {
        str(c["ContactID"]): str(c["MergedToContactID"])
        for c in contacts
        if c.get("MergedToContactID") and c.get("MergedToContactID") != c.get("ContactID")
    }
    if not merged_into:
        return set()
    survivors = {m: survivor_of(ctx, merged_into, m) for m in merged_into}
    holders = _links(ctx, LinkKind.CONTACT, set(survivors.values()))
    for merged_id, survivor in survivors.items():
        link = links.get(merged_id)
        if link is None or link.local_id not in customers:
            continue
        holder = holders.get(survivor) or links.get(survivor)
        other = holder.local_id if holder is not None and holder.local_id != link.local_id else None
        if other is None:
            del links[merged_id]
            link.xero_id = survivor
            link.xero_updated_at = None  # the survivor's record is applied when it comes
            links[survivor] = holders[survivor] = link
        else:
            link.status = LinkStatus.MERGED.value
            link.last_error = (
                f"merged in Xero into contact {survivor}, which is customer #{other}'s: "
                "its orders are invoiced to that contact"
            )
        ctx.session.add(
            ContactMerge(
                connection_id=ctx.connection.id,
                customer_id=link.local_id,
                merged_contact_id=merged_id,
                survivor_contact_id=survivor,
                survivor_customer_id=other,
            )
        )
        counts["merged"] = counts.get("merged", 0) + 1
        log.warning(
            "contact %s was merged into %s in Xero: customer #%s follows%s",
            merged_id, survivor, link.local_id, f" (customer #{other} holds it)" if other else "",
        )  # fmt: skip
    return set(merged_into)


def apply_contacts(ctx: OrgContext, contacts: list[dict[str, Any]], counts: Counts) -> None:
    xero_ids = [str(c.get("ContactID") or "") for c in contacts]
    links = _links(ctx, LinkKind.CONTACT, xero_ids)
    customers = _by_id(ctx, Customer, (link.local_id for link in links.values()))
    written = _written_by_page(links, contacts, "ContactID")
    links = _hold_records(ctx, Customer, LinkKind.CONTACT, written, xero_ids, customers) or links
    merged = follow_merges(ctx, contacts, links, customers, counts)
    contacts = [
        c for c in contacts
        if str(c["ContactID"]) not in merged
        or (str(c["ContactID"]) in links and links[str(c["ContactID"])].status != "merged")
    ]  # fmt: skip
    unlinked = UnlinkedCustomers(
        ctx,
        (
            c
            for c in contacts
            if (link := links.get(str(c["ContactID"]))) is None or link.local_id not in customers
        ),
    )
    created: list[tuple[Customer, str, datetime | None]] = []
    unclaimed: list[dict[str, Any]] = []
    fields_of: dict[int, dict[str, Any]] = {}  # by id(contact): worked out once per contact
    for contact in contacts:
        xero_id = str(contact["ContactID"])
        fields = fields_of[id(contact)] = customer_fields(contact)
        updated = contact.get("UpdatedDateUTC")
        link = links.get(xero_id)
        customer = customers.get(link.local_id) if link is not None else None
        if link is not None and customer is not None:
            if link.status == LinkStatus.MERGED.value:
                counts["unchanged"] += 1
                continue
            _apply_linked(ctx, link, customer, fields, updated, counts)
            continue
        customer = unlinked.take(contact)
        if customer is not None:
            # The CRM's pending customer is this contact: link it, and push the CRM's details
            # to it as an update (never the template's fields).
            link = outbox.link_for(ctx.session, ctx.connection.id, LinkKind.CONTACT, customer.id)
            link.xero_id = xero_id
            _keep_crm_version(link, updated)
            counts["linked"] += 1
        else:
            unclaimed.append(contact)
    for contact in _relink_vanished(ctx, unclaimed, counts):
        fields = fields_of.get(id(contact)) or customer_fields(contact)
        customer = Customer(connection_id=ctx.connection.id, **fields)
        ctx.session.add(customer)
        created.append((customer, str(contact["ContactID"]), contact.get("UpdatedDateUTC")))
        counts["created"] += 1
    if created:
        outbox.marked_by_caller(ctx.session, (c for c, _, _ in created))
        ctx.session.flush()  # one flush gives every new customer its id (and its version)
        new_links = outbox.links_for(
            ctx.session, ctx.connection.id, LinkKind.CONTACT, (c.id for c, _, _ in created)
        )
        for customer, xero_id, updated in created:
            link = new_links[customer.id]
            outbox.mark_in_sync(link, xero_id, outbox.desired_fingerprint(customer), updated)
            # Fingerprinted from the row as just inserted: the pass need not look again.
            link.seen_version = customer.__dict__.get("row_version")


def _relink_vanished(
    ctx: OrgContext, contacts: list[dict[str, Any]], counts: Counts
) -> list[dict[str, Any]]:
    """Of contacts nobody in the CRM claimed, relink those that are a linked customer whose
    own contact Xero no longer has (`vanished`); return the rest, which are new."""
    twins = vanished.LinkedTwins(ctx, contacts, _own_number)
    found = [(contact, twins.take(contact)) for contact in contacts]
    candidates = [twin for _, twin in found if twin is not None]
    gone = (
        vanished.missing_from_xero(ctx, "Contacts", (str(t.link.xero_id) for t in candidates))
        if candidates
        else set()
    )
    new = []
    for contact, twin in found:
        if twin is not None and str(twin.link.xero_id) in gone:
            vanished.relink(ctx, twin)
            _keep_crm_version(twin.link, contact.get("UpdatedDateUTC"))
            counts["relinked"] = counts.get("relinked", 0) + 1
        else:
            new.append(contact)
    return new


def _keep_crm_version(link: XeroLink, updated: datetime | None) -> None:
    """A pending CRM customer matched a contact: keep its details, push them as an update."""
    link.pushed_fingerprint = None
    link.status = LinkStatus.PENDING.value
    link.xero_updated_at = updated


# -- items ---------------------------------------------------------------------------------
def apply_items(ctx: OrgContext, items: list[dict[str, Any]], counts: Counts) -> None:
    xero_ids = [str(i.get("ItemID") or "") for i in items]
    links = _links(ctx, LinkKind.ITEM, xero_ids)
    products = _by_id(ctx, Product, (link.local_id for link in links.values()))
    codes = [str(i.get("Code") or "").strip() for i in items]
    by_code = {
        p.code: p
        for p in ctx.session.scalars(
            select(Product).where(
                Product.connection_id == ctx.connection.id, Product.code.in_(codes)
            )
        )
    }
    written = _written_by_page(links, items, "ItemID") | {
        by_code[code].id
        for item, code in zip(items, codes, strict=True)
        if code in by_code
        and ((link := links.get(str(item.get("ItemID")))) is None or link.local_id not in products)
    }
    links = _hold_records(ctx, Product, LinkKind.ITEM, written, xero_ids, products) or links
    linked_now: list[tuple[Product, str, datetime | None]] = []
    for item in items:
        xero_id = str(item["ItemID"])
        fields = product_fields(item)
        updated = item.get("UpdatedDateUTC")
        link = links.get(xero_id)
        product = products.get(link.local_id) if link is not None else None
        if link is not None and product is not None:
            _apply_linked(ctx, link, product, fields, updated, counts)
            continue
        product = by_code.get(fields["code"])
        if product is None:  # a new item
            product = Product(connection_id=ctx.connection.id, **fields)
            ctx.session.add(product)
            by_code[product.code] = product
            counts["created"] += 1
        else:  # the CRM's product of the same code is this item
            _set(product, fields)
            counts["linked"] += 1
            previous = outbox.get_link(ctx.session, ctx.connection.id, LinkKind.ITEM, product.id)
            if previous is not None and previous.xero_id and previous.xero_id != xero_id:
                vanished.record_item_relink(ctx, product.id, str(previous.xero_id), xero_id)
                counts["relinked"] = counts.get("relinked", 0) + 1
        linked_now.append((product, xero_id, updated))
    if linked_now:
        ctx.session.flush()
        new_links = outbox.links_for(
            ctx.session, ctx.connection.id, LinkKind.ITEM, (p.id for p, _, _ in linked_now)
        )
        for product, xero_id, updated in linked_now:
            outbox.mark_in_sync(
                new_links[product.id], xero_id, outbox.desired_fingerprint(product), updated
            )


# -- sales documents -----------------------------------------------------------------------
def _customer_ids(ctx: OrgContext, documents: list[dict[str, Any]]) -> dict[str, int]:
    contact_ids = {(d.get("Contact") or {}).get("ContactID") for d in documents}
    return {
        xero_id: link.local_id
        for xero_id, link in _links(ctx, LinkKind.CONTACT, (c for c in contact_ids if c)).items()
    }


def _product_ids(ctx: OrgContext, documents: list[dict[str, Any]]) -> dict[str, int]:
    codes = {
        line.get("ItemCode")
        for d in documents
        for line in d.get("LineItems") or ()
        if line.get("ItemCode")
    }
    if not codes:
        return {}
    rows = ctx.session.execute(
        select(Product.code, Product.id).where(
            Product.connection_id == ctx.connection.id, Product.code.in_(codes)
        )
    )
    return {code: product_id for code, product_id in rows}


def _apply_documents(
    ctx: OrgContext,
    documents: list[dict[str, Any]],
    counts: Counts,
    *,
    model: type[Invoice] | type[CreditNote],
    line_model: type[InvoiceLine] | type[CreditNoteLine],
    id_field: str,
    xero_key: str,
    to_fields: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> None:
    customers = _customer_ids(ctx, documents)
    products = _product_ids(ctx, documents)
    orders = _orders_by_invoice(ctx, [d[xero_key] for d in documents]) if model is Invoice else {}
    id_column = getattr(model, id_field)
    existing: dict[str, Any] = {
        getattr(row, id_field): row
        for row in ctx.session.scalars(
            select(model).where(
                model.connection_id == ctx.connection.id,
                id_column.in_([d[xero_key] for d in documents]),
            )
        )
    }
    for document in documents:
        try:
            fields = to_fields(document)
        except ValueError as exc:
            set_aside(ctx, counts, model.__name__ + "s", str(document.get(xero_key)), exc)
            continue
        contact_id = fields["xero_contact_id"]
        fields["customer_id"] = customers.get(contact_id) if contact_id else None
        row: Any = existing.get(document[xero_key])
        if row is not None and row.xero_updated_at == fields["xero_updated_at"]:
            counts["unchanged"] += 1
            continue
        if row is None:
            row = model(connection_id=ctx.connection.id, **fields)
            ctx.session.add(row)
            counts["created"] += 1
        else:
            _set(row, fields)
            counts["updated"] += 1
        if document.get("LineItems") is not None:
            row.lines = [
                line_model(
                    **{
                        k: v
                        for k, v in line_fields(line, position).items()
                        if hasattr(line_model, k)
                    },
                    product_id=products.get(line.get("ItemCode") or ""),
                    **(
                        {"discount_rate": line.get("DiscountRate")}
                        if line_model is InvoiceLine
                        else {}
                    ),
                )
                for position, line in enumerate(document["LineItems"])
            ]
        if isinstance(row, Invoice):
            _reflect_on_order(orders.get(row.xero_invoice_id), row)


def _orders_by_invoice(ctx: OrgContext, invoice_ids: list[str]) -> dict[str, Order]:
    """The orders that created these invoices (one query per page)."""
    return {
        str(order.xero_invoice_id): order
        for order in ctx.session.scalars(
            select(Order).where(
                Order.connection_id == ctx.connection.id,
                Order.xero_invoice_id.in_(invoice_ids),
            )
        )
    }


def _reflect_on_order(order: Order | None, invoice: Invoice) -> None:
    """The order that created an invoice shows the invoice's status (e.g. VOIDED)."""
    if order is not None:
        invoice.order_id = order.id
        order.xero_invoice_status = invoice.xero_status
        order.xero_invoice_number = invoice.invoice_number or order.xero_invoice_number


def apply_invoices(ctx: OrgContext, invoices: list[dict[str, Any]], counts: Counts) -> None:
    _apply_documents(
        ctx, invoices, counts, model=Invoice, line_model=InvoiceLine,
        id_field="xero_invoice_id", xero_key="InvoiceID", to_fields=invoice_fields,
    )  # fmt: skip


def apply_credit_notes(ctx: OrgContext, notes: list[dict[str, Any]], counts: Counts) -> None:
    _apply_documents(
        ctx, notes, counts, model=CreditNote, line_model=CreditNoteLine,
        id_field="xero_credit_note_id", xero_key="CreditNoteID", to_fields=credit_note_fields,
    )  # fmt: skip


STREAMS: tuple[Stream, ...] = (
    Stream("contacts", "Contacts", None, True, apply_contacts),
    Stream("items", "Items", None, False, apply_items),
    Stream("invoices", "Invoices", 'Type=="ACCREC"', False, apply_invoices),
    Stream("credit_notes", "CreditNotes", 'Type=="ACCRECCREDIT"', False, apply_credit_notes),
)
STREAMS_BY_NAME = {stream.name: stream for stream in STREAMS}


SECOND_SETTLES_AFTER = timedelta(seconds=10)
"""How far past its end (by Xero's clock) a second must be before no record can still appear
in it: a margin for a write stamped in that second and committed a moment later, and for the
clocks of Xero's servers. Passes are minutes apart, so the margin costs at most one re-read."""
ONE_SECOND = timedelta(seconds=1)


def read_since(cursor: SyncCursor) -> datetime | None:
    """The `If-Modified-Since` of the stream's next read: the cursor's second, or the next
    second once a complete read showed the cursor's second to be safely past."""
    if cursor.cursor is None:
        return None
    second = cursor.cursor.replace(microsecond=0)
    settled = cursor.checked_at is not None and (
        cursor.checked_at >= second + ONE_SECOND + SECOND_SETTLES_AFTER
    )
    return second + ONE_SECOND if settled else second


def _cursor(ctx: OrgContext, stream: Stream) -> SyncCursor:
    cursor = ctx.session.get(SyncCursor, (ctx.connection.id, stream.name))
    if cursor is None:
        cursor = SyncCursor(connection_id=ctx.connection.id, stream=stream.name)
        ctx.session.add(cursor)
    return cursor


ID_FIELDS = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
}


STORE_ERRORS: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    ValueError,
    OverflowError,
    TypeError,
    ArithmeticError,
)
"""What storing a record may raise: the database refusing a value (length, character,
range, constraint), or a value no Python type holds."""
LOAD_ERRORS: tuple[type[Exception], ...] = (MarshmallowError, ValueError, OverflowError, TypeError)
REJECTS_KEY = "xerosync_import_rejects"


@dataclass(frozen=True)
class SetAside:
    """One record the import could not store: what (resource, id), where (field) and why."""

    resource: str
    xero_id: str
    why: str
    field: str | None = None


def set_aside(
    ctx: OrgContext | None,
    counts: Counts,
    resource: str,
    xero_id: str,
    why: Any,
    field: str | None = None,
) -> None:
    """A record from Xero that cannot be imported: logged and kept with what and why (the
    stream writes it to `import_rejects` with its page), never fatal."""
    counts["rejected"] += 1
    log.warning("not imported: %s %s%s: %s", resource, xero_id, f" ({field})" if field else "", why)
    if ctx is not None:
        ctx.session.info.setdefault(REJECTS_KEY, {})[(resource, xero_id)] = SetAside(
            resource, xero_id, str(why), field
        )


def _first_field(messages: Any) -> str | None:
    """The field marshmallow names first in its messages (`{0: {"Name": [...]}}`)."""
    while isinstance(messages, dict) and messages:
        key, messages = next(iter(messages.items()))
        if isinstance(key, str):
            return key
    return None


def _without_nul(value: Any) -> Any:
    """Text without NUL characters. Xero's text cannot mean anything by one, and PostgreSQL
    stores none (a NUL in a text value is refused), so the import drops them rather than
    setting the record aside."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def load_page(
    resource: str, rows: list[dict[str, Any]], counts: Counts, ctx: OrgContext | None = None
) -> list[dict[str, Any]]:
    """Xero's rows as typed records. A malformed row is set aside, never the whole page: a
    page that failed would fail again on every pass and hold the stream's cursor forever."""
    id_field = ID_FIELDS[resource]
    # repr() walks a row in C; only a row whose repr shows a NUL escape is walked in Python.
    rows = [_without_nul(row) if "\\x00" in repr(row) else row for row in rows]
    try:
        loaded = load_many(resource, rows)
        if all(record.get(id_field) for record in loaded):
            return loaded
    except LOAD_ERRORS:
        pass
    good = []
    for index, row in enumerate(rows):
        xero_id = str(row.get(id_field) or f"(row {index} of the page)")
        try:
            [record] = load_many(resource, [row])
        except LOAD_ERRORS as exc:
            messages = getattr(exc, "messages", None)
            set_aside(ctx, counts, resource, xero_id, messages or exc, _first_field(messages))
            continue
        if not record.get(id_field):
            set_aside(ctx, counts, resource, xero_id, f"no {id_field}", id_field)
            continue
        good.append(record)
    return good


def _refusal(exc: Exception) -> str:
    """The database's (or Python's) words about a value, without the SQL statement."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip().splitlines()
    return f"{type(original or exc).__name__}: {text[0] if text else exc}"


class TooLong(ValueError):
    """A text longer than its CRM column: refused the same on every database (PostgreSQL
    would refuse it at the flush, SQLite would keep it)."""

    def __init__(self, field: str, length: int, limit: int) -> None:
        super().__init__(f"{field} is {length} characters, longer than the {limit} the CRM holds")
        self.field = field


_WIDTHS: dict[Any, tuple[tuple[str, int], ...]] = {}


def _widths(table: Any) -> tuple[tuple[str, int], ...]:
    """A table's text columns and their widths, worked out once per table."""
    widths = _WIDTHS.get(table)
    if widths is None:
        widths = _WIDTHS[table] = tuple(
            (column.key, int(column.type.length))
            for column in table.columns
            if getattr(column.type, "length", None)
        )
    return widths


def check_widths(session: Any, *_args: Any) -> None:
    """Refuse, before a flush, a text the CRM's column cannot hold (see `TooLong`)."""
    for record in (*session.new, *session.dirty):
        table = getattr(record, "__table__", None)
        if table is None:
            continue
        values = record.__dict__  # only what is loaded or set: nothing is read back
        for key, limit in _widths(table):
            value = values.get(key)
            if isinstance(value, str) and len(value) > limit:
                raise TooLong(key, len(value), limit)


@contextmanager
def widths_checked(session: Any) -> Iterator[None]:
    """Every flush of the block first checks widths (the apply functions flush themselves)."""
    event.listen(session, "before_flush", check_widths)
    try:
        yield
    finally:
        event.remove(session, "before_flush", check_widths)


def _store(
    ctx: OrgContext, stream: Stream, rows: list[dict[str, Any]], counts: Counts, what: str
) -> None:
    """Apply `rows` in a savepoint; once more if the database aborted it as a deadlock's
    victim (rolled back to the savepoint, the page holds no lock and starts again)."""
    before = dict(counts)

    def store() -> None:
        with widths_checked(ctx.session), ctx.session.begin_nested():
            stream.apply(ctx, rows, counts)

    def undo() -> None:
        counts.clear()
        counts.update(before)

    once_more_on_lock_conflict(store, what, undo)


def apply_page(
    ctx: OrgContext, stream: Stream, rows: list[dict[str, Any]], counts: Counts
) -> list[dict[str, Any]]:
    """Store a page in a savepoint; if anything in it is refused, store its records one by
    one, each in a savepoint of its own, and set aside those refused. Returns what was stored.

    A deadlock is no refusal: the page is stored again once, and a second one is raised (the
    pass is interrupted; the next one resumes from the cursor), never set aside as a record.
    """
    before = dict(counts)
    try:
        _store(ctx, stream, rows, counts, f"a page of {stream.name}")
        return rows
    except STORE_ERRORS as exc:
        if lock_conflict(exc):
            raise  # twice a deadlock's victim: not the page's fault; the next pass resumes
        counts.clear()
        counts.update(before)
        log.info("a page of %s was refused (%s): storing it record by record", stream.name, exc)
    id_field = ID_FIELDS[stream.resource]
    stored = []
    for row in rows:
        before = dict(counts)
        try:
            _store(ctx, stream, [row], counts, f"{stream.resource} {row[id_field]}")
        except STORE_ERRORS as exc:
            if lock_conflict(exc):
                raise
            counts.clear()
            counts.update(before)
            field = exc.field if isinstance(exc, TooLong) else None
            set_aside(ctx, counts, stream.resource, str(row[id_field]), _refusal(exc), field)
            continue
        stored.append(row)
    return stored


def record_rejects(ctx: OrgContext, resource: str, stored: list[dict[str, Any]]) -> None:
    """Write the page's set-aside records; forget earlier ones the page now stored."""
    rejects: dict[tuple[str, str], SetAside] = ctx.session.info.pop(REJECTS_KEY, {})
    stored_ids = [str(r[ID_FIELDS[resource]]) for r in stored]
    if stored_ids:
        ctx.session.execute(
            delete(ImportReject).where(
                ImportReject.connection_id == ctx.connection.id,
                ImportReject.resource == resource,
                ImportReject.xero_id.in_(stored_ids),
            )
        )
    if not rejects:
        return
    ids = [xero_id for (_res, xero_id) in rejects]
    known = {
        (row.resource, row.xero_id): row
        for row in ctx.session.scalars(
            select(ImportReject).where(
                ImportReject.connection_id == ctx.connection.id, ImportReject.xero_id.in_(ids)
            )
        )
    }
    for key, reject in rejects.items():
        row = known.get(key)
        if row is None:
            ctx.session.add(
                ImportReject(
                    connection_id=ctx.connection.id,
                    resource=reject.resource,
                    xero_id=reject.xero_id[:64],
                    field=reject.field,
                    message=reject.why,
                    times=1,
                )
            )
        else:
            row.message, row.field = reject.why, reject.field
            row.last_seen = utcnow()
            row.times = (row.times or 0) + 1


QUIET_COUNTS = frozenset({"read", "unchanged"})


def brought_nothing(counts: Counts) -> bool:
    """A read that changed nothing in the CRM (rows read again unchanged are nothing)."""
    return not any(value for name, value in counts.items() if name not in QUIET_COUNTS)


def import_stream(
    ctx: OrgContext,
    stream: Stream,
    *,
    full: bool = False,
    on_page: Callable[[str, int, int | None], None] | None = None,
    counts: Counts | None = None,
) -> Counts:
    """Bring one stream's changes in, page by page, committing the cursor with each page.

    Its calls and bytes are spent as "import", or as "idle" when the read brought nothing.
    `on_page(stream, rows, total)` after each page: `total` is the rows the whole read
    brings when Xero says (`pagination.itemCount`), for progress with a total. `counts` is
    filled page by page, so a read stopped part-way still counts what it applied."""
    if counts is None:
        counts = {}
    with spending_as("import") as spend:
        _read_stream(ctx, stream, counts, full=full, on_page=on_page)
        if brought_nothing(counts):
            spend.kind = "idle"
    return counts


def _read_stream(
    ctx: OrgContext,
    stream: Stream,
    counts: Counts,
    *,
    full: bool,
    on_page: Callable[[str, int, int | None], None] | None,
) -> None:
    for name in ("read", "created", "updated", "linked", "unchanged", "conflicts", "rejected"):
        counts.setdefault(name, 0)
    cursor = _cursor(ctx, stream)
    since = None if full else read_since(cursor)
    began: datetime | None = None  # Xero's clock at the read's first page
    first = True
    for page in ctx.client.pages(
        stream.resource,
        modified_since=since,
        where=stream.where,
        include_archived=stream.include_archived or None,
    ):
        rows = load_page(stream.resource, page.rows, counts, ctx)
        stored = apply_page(ctx, stream, rows, counts)
        record_rejects(ctx, stream.resource, stored)
        counts["read"] += len(rows)
        if first:
            began, first = page.date_time_utc, False
        newest = max((r["UpdatedDateUTC"] for r in rows if r.get("UpdatedDateUTC")), default=None)
        if newest is not None and (cursor.cursor is None or newest > cursor.cursor):
            cursor.cursor = newest
            cursor.checked_at = None  # not yet read to the end from this second
        if page.last:
            # The whole read asked from at most the cursor's second, from Xero's `began` on:
            # every record of that second Xero held by then is in it.
            cursor.checked_at = began
        ctx.session.commit()
        ctx.session.expunge_all()
        cursor = _cursor(ctx, stream)
        if on_page is not None:
            on_page(stream.name, len(rows), page.item_count)
        if not page.last:
            timeslice.check(ctx.time_slice)


def forget_cursors(ctx: OrgContext) -> None:
    """For `--full`: the next import takes everything."""
    ctx.session.execute(delete(SyncCursor).where(SyncCursor.connection_id == ctx.connection.id))
