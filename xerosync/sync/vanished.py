"""Links whose Xero record no longer exists, found before they turn into duplicates.

A Xero organisation restored from a backup, or reset, or the sandbox restarted over a CRM
database it no longer matches: the CRM's links then point at records Xero does not have, and
Xero offers other records with the same identity under new IDs. The import would take each
for a new contact and create a second customer beside the first, silently.

Before creating a customer for a contact it has no link for, the import asks whether a
*linked* customer is that contact (our ContactNumber, then email, then exact name, as the
duplicate look-up does). If one is, Xero is asked, in one call per 50, whether the linked
record still exists. If it does, Xero really holds two contacts and the CRM mirrors them. If
it does not, the customer is relinked to the record Xero has now (the CRM's details are
pushed to it, as for any match) and the relink is recorded (`vanished_links`), logged, and
shown by `status` and `errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select

from xerosync.models import Customer, LinkKind, LinkStatus, VanishedLink, XeroLink
from xerosync.sync.context import OrgContext

log = logging.getLogger(__name__)

IDS_PER_CALL = 50
"""Xero refuses longer `IDs` lists (XERO_FACTS §4)."""


@dataclass(frozen=True)
class Twin:
    """A linked customer an incoming, unlinked contact also matches."""

    customer: Customer
    link: XeroLink
    contact_id: str
    matched_by: str


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), IDS_PER_CALL):
        yield ids[start : start + IDS_PER_CALL]


class LinkedTwins:
    """Linked customers that some of `contacts` (none of them linked) also are.

    One query for the page's numbers, emails and names, and only when the page has contacts
    no link and no unlinked customer claimed: a routine page costs nothing here."""

    def __init__(
        self, ctx: OrgContext, contacts: Iterable[Mapping[str, Any]], own_number: Any
    ) -> None:
        self.ctx = ctx
        self.own_number = own_number
        self.by_id: dict[int, tuple[Customer, XeroLink]] = {}
        self.by_email: dict[str, int] = {}
        self.by_name: dict[str, int] = {}
        wanted = list(contacts)
        if not wanted:
            return
        numbers = {n for c in wanted if (n := own_number(c)) is not None}
        emails = {e for c in wanted if (e := _email(c))}
        names = {str(c.get("Name") or "") for c in wanted}
        # Two plain queries, not one join: PostgreSQL planned the join with its OR badly
        # (minutes a page once the import had linked 20,000 customers).
        candidates = {
            customer.id: customer
            for customer in ctx.session.scalars(
                select(Customer).where(
                    Customer.connection_id == ctx.connection.id,
                    or_(
                        Customer.id.in_(sorted(numbers)),
                        func.lower(func.trim(Customer.email)).in_(sorted(emails)),
                        Customer.name.in_(sorted(names)),
                    ),
                )
            )
        }
        rows = []
        ids = sorted(candidates)
        for start in range(0, len(ids), 1000):
            for link in ctx.session.scalars(
                select(XeroLink).where(
                    XeroLink.connection_id == ctx.connection.id,
                    XeroLink.kind == LinkKind.CONTACT.value,
                    XeroLink.local_id.in_(ids[start : start + 1000]),
                    XeroLink.xero_id.is_not(None),
                    XeroLink.status != LinkStatus.MERGED.value,
                )
            ):
                rows.append((candidates[link.local_id], link))
        rows.sort(key=lambda pair: pair[0].id)
        for customer, link in rows:
            self.by_id[customer.id] = (customer, link)
            if customer.email and customer.email.strip():
                self.by_email.setdefault(customer.email.strip().lower(), customer.id)
            self.by_name.setdefault(customer.name, customer.id)

    def take(self, contact: Mapping[str, Any]) -> Twin | None:
        """The linked customer this contact also is, removed from the index."""
        number = self.own_number(contact)
        email = _email(contact)
        candidates = (
            (number, "number"),
            (self.by_email.get(email) if email else None, "email"),
            (self.by_name.get(str(contact.get("Name") or "")), "name"),
        )
        for customer_id, matched_by in candidates:
            if customer_id is not None and customer_id in self.by_id:
                customer, link = self.by_id.pop(customer_id)
                return Twin(customer, link, str(contact["ContactID"]), matched_by)
        return None


def _email(contact: Mapping[str, Any]) -> str:
    return str(contact.get("EmailAddress") or "").strip().lower()


def missing_from_xero(ctx: OrgContext, resource: str, ids: Iterable[str]) -> set[str]:
    """Which of `ids` Xero does not have (archived records count as present)."""
    wanted = sorted(set(ids))
    present: set[str] = set()
    id_field = {"Contacts": "ContactID", "Items": "ItemID"}[resource]
    for chunk in _chunks(wanted):
        rows = ctx.client.get_all(
            resource,
            include_archived=True if resource == "Contacts" else None,
            params={"IDs": ",".join(chunk)},
        )
        present.update(str(r.get(id_field)) for r in rows)
    return set(wanted) - present


def relink(ctx: OrgContext, twin: Twin) -> None:
    """The customer's contact is gone from Xero: link the one Xero offers now, and say so."""
    vanished = str(twin.link.xero_id)
    ctx.session.add(
        VanishedLink(
            connection_id=ctx.connection.id,
            kind=LinkKind.CONTACT.value,
            local_id=twin.customer.id,
            vanished_xero_id=vanished,
            relinked_xero_id=twin.contact_id,
            matched_by=twin.matched_by,
        )
    )
    twin.link.xero_id = twin.contact_id
    twin.link.last_error = None
    twin.link.last_error_field = None
    log.warning(
        "customer #%s %r was linked to Xero contact %s, which no longer exists; relinked to "
        "%s (same %s) instead of importing a duplicate",
        twin.customer.id,
        twin.customer.name,
        vanished,
        twin.contact_id,
        twin.matched_by,
    )


def record_item_relink(ctx: OrgContext, product_id: int, vanished: str, item_id: str) -> None:
    """An item is matched by its Code, which Xero keeps unique: the relink is certain, and
    still worth saying (the old ItemID is gone from Xero)."""
    ctx.session.add(
        VanishedLink(
            connection_id=ctx.connection.id,
            kind=LinkKind.ITEM.value,
            local_id=product_id,
            vanished_xero_id=vanished,
            relinked_xero_id=item_id,
            matched_by="code",
        )
    )
    log.warning(
        "product #%s was linked to Xero item %s; Xero now has its code as item %s: relinked",
        product_id,
        vanished,
        item_id,
    )
