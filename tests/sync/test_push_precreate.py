"""Before creating contacts, the push looks at what Xero gained since the last import.

The accounts team enters a contact in Xero; before the next import a rep saves a customer
that is the same one. The push must link the customer to that contact and send the CRM's
details as an update (never the template's fields), not create a second contact that the
next import would turn into a second CRM customer. One read per push, whatever the number of
customers to create; matched like the import matches: our ContactNumber, then email (any
case), then exact name. Archived contacts are not linked by email or name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, LinkStatus, XeroLink
from xerosync.sync import outbox
from xerosync.sync.context import OrgContext
from xerosync.sync.pull import STREAMS_BY_NAME, import_stream
from xerosync.sync.push import push_customers, push_pending
from xerosync.xero.client import MAX_BATCH
from xerosync.xero.errors import XeroError

pytestmark = pytest.mark.integration
outbox.install()

API = "/api.xro/2.0"


# -- helpers -----------------------------------------------------------------------------
def accounts_team_creates(env: XerosyncEnv, **fields: Any) -> dict[str, Any]:
    """A contact entered in Xero's UI: no ContactNumber (the UI cannot set one)."""
    control = env.sandbox.control
    before = {c["ContactID"] for c in control.records("Contacts")}
    control.bulk(Contacts=1)
    [new_id] = [c["ContactID"] for c in control.records("Contacts") if c["ContactID"] not in before]
    return control.edit("Contacts", new_id, {"ContactNumber": None, **fields})


def new_customer(env: XerosyncEnv, **fields: Any) -> int:
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, **fields)
        session.add(customer)
        session.commit()
        return customer.id


def push(env: XerosyncEnv, *ids: int, **kwargs: Any) -> Any:
    with env.session() as session:
        customers = [session.get_one(Customer, i) for i in ids]
        report = push_customers(env.context(session), customers, **kwargs)
        session.commit()
    return report


def link_of(env: XerosyncEnv, customer_id: int) -> XeroLink:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(
                XeroLink.kind == LinkKind.CONTACT.value, XeroLink.local_id == customer_id
            )
        ).one()


def contact(env: XerosyncEnv, contact_id: str) -> dict[str, Any]:
    return env.sandbox.control.record("Contacts", contact_id)


def with_email(env: XerosyncEnv, email: str) -> list[dict[str, Any]]:
    return [c for c in env.contacts() if str(c.get("EmailAddress") or "").lower() == email]


def lookups(env: XerosyncEnv) -> list[dict[str, Any]]:
    """GET /Contacts list reads (not the template's GET /Contacts/{id})."""
    return [
        r
        for r in env.sandbox.control.requests(path=f"{API}/Contacts", method="GET")
        if r["path"].rstrip("/").lower() == f"{API}/contacts"
    ]


def creates(env: XerosyncEnv) -> list[dict[str, Any]]:
    return env.sandbox.control.requests(path=f"{API}/Contacts", method="PUT")


def import_contacts(env: XerosyncEnv) -> None:
    """The routine pass's first step: Xero's contacts into the CRM (sets the cursor)."""
    with env.session() as session:
        import_stream(env.context(session), STREAMS_BY_NAME["contacts"])
        session.commit()


def spy_reads(
    monkeypatch: pytest.MonkeyPatch, calls: list[dict[str, Any]]
) -> Callable[[OrgContext], OrgContext]:
    """Wrap a context's `client.rows` to record the arguments of every read."""

    def wrap(ctx: OrgContext) -> OrgContext:
        original = ctx.client.rows

        def rows(resource: str, **kwargs: Any) -> Any:
            calls.append({"resource": resource, **kwargs})
            return original(resource, **kwargs)

        monkeypatch.setattr(ctx.client, "rows", rows)
        return ctx

    return wrap


OWNED = {
    "PaymentTerms": {"Sales": {"Day": 14, "Type": "DAYSAFTERBILLDATE"}},
    "SalesDefaultAccountCode": "260",
    "SalesTrackingCategories": [{"TrackingCategoryName": "Region", "TrackingOptionName": "South"}],
}
"""Accounting fields the accounts team set on its contact: an update must leave them."""


# -- by email, name, ContactNumber -----------------------------------------------------------
def test_a_contact_entered_after_the_import_is_linked_by_email_and_updated(
    xerosync_env: XerosyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = xerosync_env
    import_contacts(env)
    theme = env.sandbox.control.records("BrandingThemes")[-1]
    entered = accounts_team_creates(
        env,
        Name="Numbat Supplies",
        EmailAddress="Accounts@Numbat.example",
        BrandingTheme={"BrandingThemeID": theme["BrandingThemeID"]},
        **OWNED,
    )
    customer_id = new_customer(
        env,
        name="Numbat Supplies Pty",
        email="accounts@NUMBAT.example",
        phone="5550142",
        city="Darwin",
    )
    env.sandbox.control.clear_requests()
    reads: list[dict[str, Any]] = []
    wrap = spy_reads(monkeypatch, reads)
    with env.session() as session:
        ctx = wrap(env.context(session))
        report = push_customers(ctx, [session.get_one(Customer, customer_id)])
        session.commit()
        discount = session.get_one(Customer, customer_id).default_discount

    assert (report.linked, report.created, report.updated) == (1, 0, 1)
    link = link_of(env, customer_id)
    assert link.xero_id == entered["ContactID"] and link.status == LinkStatus.SYNCED.value
    assert len(with_email(env, "accounts@numbat.example")) == 1
    assert creates(env) == []
    after = contact(env, entered["ContactID"])
    assert after["Name"] == "Numbat Supplies Pty"  # the CRM's details ...
    assert after["EmailAddress"] == "accounts@NUMBAT.example"
    assert after["Phones"][0]["PhoneNumber"] == "5550142"
    for name, value in OWNED.items():  # ... and the accounts team's fields untouched
        assert after[name] == value, name
    assert after["BrandingTheme"]["BrandingThemeID"] == theme["BrandingThemeID"]
    assert not after.get("ContactNumber")  # an update never sets our number
    assert discount is None  # the template's discount is for new contacts only
    # One read, for what changed since the import's cursor (not the whole organisation).
    [read] = [r for r in reads if r["resource"] == "Contacts"]
    assert read["modified_since"] is not None and read["include_archived"] is True
    assert "where" not in read
    assert len(lookups(env)) == 1

    # The next import sees one contact, one customer: no second CRM customer.
    import_contacts(env)
    with env.session() as session:
        same = session.scalars(
            select(Customer).where(Customer.email.ilike("accounts@numbat.example"))
        ).all()
    assert [c.id for c in same] == [customer_id]


def test_a_contact_of_the_same_name_is_linked_before_any_create(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    entered = accounts_team_creates(env, Name="Echidna Engineering", EmailAddress="")
    customer_id = new_customer(env, name="Echidna Engineering", email="new@echidna.example")
    env.sandbox.control.clear_requests()
    report = push(env, customer_id)
    assert (report.linked, report.created) == (1, 0)
    assert link_of(env, customer_id).xero_id == entered["ContactID"]
    assert creates(env) == []  # linked by the lookup, not by Xero's duplicate-name refusal
    assert sum(c["Name"] == "Echidna Engineering" for c in env.contacts()) == 1
    assert contact(env, entered["ContactID"])["EmailAddress"] == "new@echidna.example"


def test_our_own_contact_number_links_a_create_whose_answer_was_lost(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Bilby Bakery", email="orders@bilby.example")
    env.sandbox.control.add_fault("lost_response", method="PUT", path=f"{API}/Contacts")
    with pytest.raises(XeroError):
        push(env, customer_id)
    assert link_of(env, customer_id).xero_id is None
    [landed] = [c for c in env.contacts() if c.get("ContactNumber") == f"CRM-{customer_id}"]
    # The CRM changes name and email meanwhile: only our ContactNumber still says who it is.
    with env.session() as session:
        customer = session.get_one(Customer, customer_id)
        customer.name = "Bilby Bakehouse"
        customer.email = "accounts@bilby.example"
        session.commit()
    env.sandbox.control.clear_requests()
    report = push(env, customer_id)
    assert (report.linked, report.created) == (1, 0)
    assert link_of(env, customer_id).xero_id == landed["ContactID"]
    assert creates(env) == []
    assert [c["ContactID"] for c in env.contacts() if "Bilby" in str(c["Name"])] == [
        landed["ContactID"]
    ]
    assert contact(env, landed["ContactID"])["Name"] == "Bilby Bakehouse"


# -- cost --------------------------------------------------------------------------------
def _many(env: XerosyncEnv, total: int, existing: int) -> tuple[list[int], list[dict[str, Any]]]:
    """`total` new CRM customers, the first `existing` of which Xero holds (same email)."""
    before = {c["ContactID"] for c in env.contacts()}
    env.sandbox.control.bulk(Contacts=existing)
    held = [c for c in env.contacts() if c["ContactID"] not in before]
    with env.session() as session:
        customers = [
            Customer(
                connection_id=env.connection_id,
                name=f"{held[n]['Name']} (CRM)",
                email=str(held[n]["EmailAddress"]).upper(),
            )
            if n < existing
            else Customer(
                connection_id=env.connection_id,
                name=f"Fresh Customer {n:03}",
                email=f"fresh{n}@crm.example",
            )
            for n in range(total)
        ]
        session.add_all(customers)
        session.commit()
        return [c.id for c in customers], held


def test_120_customers_30_of_them_in_xero_cost_one_lookup_read(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    ids, held = _many(env, 120, 30)
    count_before = len(env.contacts())
    env.sandbox.control.clear_requests()
    report = push(env, *ids)

    assert (report.linked, report.created, report.updated) == (30, 90, 30)
    assert len(env.contacts()) == count_before + 90
    for contact_row in held:
        assert len(with_email(env, str(contact_row["EmailAddress"]).lower())) == 1
    # One read serves every batch (at most one per batch of 50: here 1 <= ceil(120/50)).
    assert len(lookups(env)) == 1 <= math.ceil(120 / MAX_BATCH)
    assert len(creates(env)) == math.ceil(90 / MAX_BATCH)
    with env.session() as session:
        links = session.scalars(select(XeroLink).where(XeroLink.local_id.in_(ids))).all()
    assert all(x.status == LinkStatus.SYNCED.value for x in links)
    assert len({x.xero_id for x in links}) == 120


def test_the_pass_outbox_reads_once_per_push_of_its_batches(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    ids, _held = _many(env, 120, 30)
    env.sandbox.control.clear_requests()
    with env.session() as session:
        report = push_pending(env.context(session))["contacts"]
        session.commit()
    assert (report.linked, report.created) == (30, 90)
    # push_pending sends the two full batches, then the 20 left over: two pushes, two reads.
    assert len(lookups(env)) == 2 <= math.ceil(len(ids) / MAX_BATCH)


# -- archived, taken over, odd characters, priority ---------------------------------------------
def test_an_archived_contact_of_the_same_email_is_not_linked(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    archived = accounts_team_creates(
        env, Name="Wallaby Wines", EmailAddress="cellar@wallaby.example", ContactStatus="ARCHIVED"
    )
    customer_id = new_customer(env, name="Wallaby Wines", email="Cellar@Wallaby.example")
    report = push(env, customer_id)
    assert (report.linked, report.created) == (0, 1)
    link = link_of(env, customer_id)
    assert link.xero_id != archived["ContactID"] and link.status == LinkStatus.SYNCED.value
    left = contact(env, archived["ContactID"])
    assert left["ContactStatus"] == "ARCHIVED" and left["EmailAddress"] == "cellar@wallaby.example"
    assert contact(env, str(link.xero_id))["ContactStatus"] == "ACTIVE"


def test_our_own_contact_archived_meanwhile_is_linked_and_restored(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Dunnart Dairy", email="milk@dunnart.example")
    env.sandbox.control.add_fault("lost_response", method="PUT", path=f"{API}/Contacts")
    with pytest.raises(XeroError):
        push(env, customer_id)
    [landed] = [c for c in env.contacts() if c.get("ContactNumber") == f"CRM-{customer_id}"]
    env.sandbox.control.edit("Contacts", landed["ContactID"], {"ContactStatus": "ARCHIVED"})
    with env.session() as session:
        session.get_one(Customer, customer_id).phone = "5550100"  # a new version to send
        session.commit()
    report = push(env, customer_id)
    # Xero would refuse a second contact with this ContactNumber: it is this customer's own.
    assert (report.linked, report.created) == (1, 0)
    assert link_of(env, customer_id).xero_id == landed["ContactID"]
    assert contact(env, landed["ContactID"])["ContactStatus"] == "ACTIVE"  # the CRM's status


def test_a_contact_linked_to_another_customer_is_taken_over(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    entered = accounts_team_creates(env, Name="Platypus Plumbing", EmailAddress="old@platypus.test")
    import_contacts(env)  # the import makes it a CRM customer
    imported = link_of_contact(env, entered["ContactID"])
    changed = {"EmailAddress": "pay@platypus.test"}  # in Xero, after the import
    env.sandbox.control.edit("Contacts", entered["ContactID"], changed)
    customer_id = new_customer(env, name="Platypus Plumbing Pty", email="PAY@platypus.test")
    report = push(env, customer_id)
    assert (report.linked, report.created) == (1, 0)
    assert link_of(env, customer_id).xero_id == entered["ContactID"]
    merged = link_of(env, imported.local_id)
    assert merged.status == LinkStatus.MERGED.value and merged.xero_id is None
    assert merged.last_error and f"#{customer_id}" in merged.last_error
    assert len(with_email(env, "pay@platypus.test")) == 1


def link_of_contact(env: XerosyncEnv, contact_id: str) -> XeroLink:
    with env.session() as session:
        return session.scalars(select(XeroLink).where(XeroLink.xero_id == contact_id)).one()


def test_quotes_and_backslashes_in_names_and_emails_match(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    by_email = accounts_team_creates(
        env, Name='Dingo "Top" Dog \\ Co', EmailAddress="O'Neil\\AP@Dingo.example"
    )
    by_name = accounts_team_creates(env, Name='Quoll "Q\\" Quarters', EmailAddress="")
    first = new_customer(env, name="Dingo Top Dog", email="o'neil\\ap@DINGO.example")
    second = new_customer(env, name='Quoll "Q\\" Quarters', email="q@quoll.example")
    env.sandbox.control.clear_requests()
    report = push(env, first, second)
    assert (report.linked, report.created, report.rejected) == (2, 0, 0)
    assert link_of(env, first).xero_id == by_email["ContactID"]
    assert link_of(env, second).xero_id == by_name["ContactID"]
    assert creates(env) == []
    assert [r["status"] for r in lookups(env)] == [200]


def test_the_lookup_of_an_invoice_push_takes_the_invoice_priority(
    xerosync_env: XerosyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Gecko Glass", email="gecko@glass.example")
    reads: list[dict[str, Any]] = []
    wrap = spy_reads(monkeypatch, reads)
    with env.session() as session:
        ctx = wrap(env.context(session))
        report = push_customers(ctx, [session.get_one(Customer, customer_id)], priority="invoice")
        session.commit()
    assert report.created == 1
    assert [r["priority"] for r in reads if r["resource"] == "Contacts"] == ["invoice"]


def test_a_contact_entered_between_the_lookup_and_the_create_meets_the_name_net(
    xerosync_env: XerosyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Possum Pantry", email="hello@possum.example")
    entered: list[dict[str, Any]] = []
    with env.session() as session:
        ctx = env.context(session)
        original = ctx.client.rows

        def rows(resource: str, **kwargs: Any) -> Any:
            yield from original(resource, **kwargs)
            if kwargs.get("include_archived") and not entered:  # right after the lookup
                entered.append(accounts_team_creates(env, Name="Possum Pantry", EmailAddress=""))

        monkeypatch.setattr(ctx.client, "rows", rows)
        env.sandbox.control.clear_requests()
        report = push_customers(ctx, [session.get_one(Customer, customer_id)])
        session.commit()
    assert (report.linked, report.created, report.rejected) == (1, 0, 0)
    assert link_of(env, customer_id).xero_id == entered[0]["ContactID"]
    assert len(creates(env)) == 1  # refused: the name is taken
    assert sum(c["Name"] == "Possum Pantry" for c in env.contacts()) == 1


def test_an_archived_contact_the_crm_already_holds_is_not_taken_over(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    archived = accounts_team_creates(
        env, Name="Bandicoot Books", EmailAddress="shop@bandicoot.example", ContactStatus="ARCHIVED"
    )
    import_contacts(env)  # an inactive CRM customer, linked to the archived contact
    imported = link_of_contact(env, archived["ContactID"])
    customer_id = new_customer(env, name="Bandicoot Books", email="SHOP@bandicoot.example")
    report = push(env, customer_id)
    assert (report.linked, report.created) == (0, 1)
    assert link_of(env, customer_id).xero_id != archived["ContactID"]
    kept = link_of(env, imported.local_id)
    assert kept.xero_id == archived["ContactID"] and kept.status != LinkStatus.MERGED.value
    assert contact(env, archived["ContactID"])["ContactStatus"] == "ARCHIVED"
