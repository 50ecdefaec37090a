"""Push flows against the sandbox, without Celery (the tasks are tested in test_tasks)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, LinkStatus, Product, XeroLink, XeroWrite
from xerosync.sync import outbox
from xerosync.sync.push import push_customers, push_pending, push_products
from xerosync.xero.errors import ServerError

pytestmark = pytest.mark.integration
outbox.install()


def contact(env: XerosyncEnv, contact_id: str) -> dict[str, Any]:
    return env.sandbox.control.record("Contacts", contact_id)


def link(env: XerosyncEnv, kind: LinkKind, local_id: int) -> XeroLink:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
        ).one()


def new_customer(env: XerosyncEnv, **fields: Any) -> int:
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, **fields)
        session.add(customer)
        session.commit()
        return customer.id


def test_a_new_customer_inherits_the_template_ledger(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    customer_id = new_customer(
        env,
        name="Koala Cafe",
        email="hello@koala.test",
        default_currency="AUD",
        tax_type="OUTPUT",
        phone="5550199",
        city="Perth",
        first_name="Kim",
        last_name="Ng",
    )
    with env.session() as session:
        report = push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
        discount = session.get_one(Customer, customer_id).default_discount
    assert report.created == 1
    created = contact(env, str(link(env, LinkKind.CONTACT, customer_id).xero_id))
    template = next(c for c in env.contacts() if c["Name"] == "Template Ledger")
    assert created["Name"] == "Koala Cafe"
    assert created["EmailAddress"] == "hello@koala.test"
    assert created["ContactNumber"] == f"CRM-{customer_id}"
    assert (
        created["BrandingTheme"]["BrandingThemeID"] == template["BrandingTheme"]["BrandingThemeID"]
    )
    assert created["PaymentTerms"] == template["PaymentTerms"]
    assert created["SalesTrackingCategories"] == template["SalesTrackingCategories"]
    assert created["SalesDefaultAccountCode"] == "200"
    assert created["PurchasesDefaultAccountCode"] == "300"
    assert discount == Decimal("5")
    assert link(env, LinkKind.CONTACT, customer_id).status == LinkStatus.SYNCED.value


def test_an_update_leaves_what_the_accounts_team_owns(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Wombat Works", email="a@wombat.test")
    with env.session() as session:
        push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
    contact_id = str(link(env, LinkKind.CONTACT, customer_id).xero_id)
    other_theme = next(
        t
        for t in env.sandbox.control.records("BrandingThemes")
        if t["BrandingThemeID"] != contact(env, contact_id)["BrandingTheme"]["BrandingThemeID"]
    )
    owned = {
        "BrandingTheme": {"BrandingThemeID": other_theme["BrandingThemeID"]},
        "PaymentTerms": {"Sales": {"Day": 7, "Type": "OFCURRENTMONTH"}},
        "SalesDefaultAccountCode": "260",
        "SalesTrackingCategories": [
            {"TrackingCategoryName": "Region", "TrackingOptionName": "South"}
        ],
    }
    env.sandbox.control.edit("Contacts", contact_id, owned)

    with env.session() as session:
        customer = session.get_one(Customer, customer_id)
        customer.email = "billing@wombat.test"
        customer.phone = "5550000"
        session.commit()
        report = push_customers(env.context(session), [customer])
        session.commit()
    assert report.updated == 1
    after = contact(env, contact_id)
    assert after["EmailAddress"] == "billing@wombat.test"
    assert after["BrandingTheme"]["BrandingThemeID"] == other_theme["BrandingThemeID"]
    for name in ("PaymentTerms", "SalesDefaultAccountCode", "SalesTrackingCategories"):
        assert after[name] == owned[name]


def test_an_unchanged_customer_costs_no_call(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Quokka Quays")
    with env.session() as session:
        push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
    env.sandbox.control.clear_requests()
    with env.session() as session:
        report = push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        assert push_pending(env.context(session))["contacts"].created == 0
    assert report.unchanged == 1
    assert env.sandbox.control.requests(path="/api.xro/2.0") == []


def test_a_rejected_customer_keeps_xeros_words(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    customer_id = new_customer(env, name="Bad Currency Ltd", default_currency="XYZ")
    with env.session() as session:
        report = push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
    assert report.rejected == 1
    rejected = link(env, LinkKind.CONTACT, customer_id)
    assert rejected.status == LinkStatus.ERROR.value
    assert rejected.last_error and "XYZ" in rejected.last_error
    env.sandbox.control.clear_requests()
    with env.session() as session:
        assert push_pending(env.context(session))["contacts"].skipped == 0
    assert env.sandbox.control.requests(path="/api.xro/2.0") == []


def test_a_duplicate_name_links_the_existing_contact(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    existing = next(c for c in env.contacts() if c["Name"] == "Marine Systems")
    customer_id = new_customer(env, name="Marine Systems", email="new@marine.test")
    with env.session() as session:
        report = push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
    assert report.linked == 1 and report.created == 0
    assert link(env, LinkKind.CONTACT, customer_id).xero_id == existing["ContactID"]
    assert sum(c["Name"] == "Marine Systems" for c in env.contacts()) == 1
    assert contact(env, existing["ContactID"])["EmailAddress"] == "new@marine.test"


def test_product_price_change_updates_the_item(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    with env.session() as session:
        product = Product(
            connection_id=env.connection_id,
            code="MUG-01",
            name="Mug",
            description="A mug",
            sales_unit_price=Decimal("12.50"),
            sales_account_code="200",
            sales_tax_type="OUTPUT",
            purchase_unit_price=Decimal("4.00"),
            purchase_account_code="300",
        )
        session.add(product)
        session.commit()
        assert push_products(env.context(session), [product]).created == 1
        product.sales_unit_price = Decimal("14.00")
        product.description = "A bigger mug"
        session.commit()
        assert push_products(env.context(session), [product]).updated == 1
        product_id = product.id
    item = env.sandbox.control.record("Items", str(link(env, LinkKind.ITEM, product_id).xero_id))
    assert Decimal(str(item["SalesDetails"]["UnitPrice"])) == Decimal("14.00")
    assert item["Description"] == "A bigger mug"
    assert sum(i["Code"] == "MUG-01" for i in env.sandbox.control.records("Items")) == 1


def test_two_hundred_new_customers_cost_few_calls(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Bulk Customer {n:03}")
            for n in range(200)
        )
        session.commit()
    env.sandbox.control.clear_requests()
    with env.session() as session:
        report = push_pending(env.context(session))["contacts"]
        session.commit()
    assert report.created == 200
    calls = env.sandbox.control.requests(path="/api.xro/2.0")
    assert len(calls) <= 10


def test_an_existing_contact_with_the_same_email_is_linked(xerosync_env: XerosyncEnv) -> None:
    from xerosync.sync import jobs

    env = xerosync_env
    assert jobs.routine_pass_for(env.connection_id).status == "ok"  # import holds the contacts
    marine = next(c for c in env.contacts() if c["Name"] == "Marine Systems")
    before = len(env.contacts())
    customer_id = new_customer(env, name="Marine Systems Pty", email="FINANCE@marine.example")
    with env.session() as session:
        report = push_customers(env.context(session), [session.get_one(Customer, customer_id)])
        session.commit()
    assert report.linked == 1 and report.created == 0
    assert link(env, LinkKind.CONTACT, customer_id).xero_id == marine["ContactID"]
    assert len(env.contacts()) == before
    assert contact(env, marine["ContactID"])["Name"] == "Marine Systems Pty"


def test_batches_in_flight_together_are_each_recorded_against_their_customers(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    assert env.settings.PASS_WRITES_IN_FLIGHT > 1
    env.sandbox.control.config(latency_ms=50)  # answers take a while, as Xero's do
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Parallel Customer {n:03}")
            for n in range(180)
        )
        session.commit()
    with env.session() as session:
        report = push_pending(env.context(session))["contacts"]
        session.commit()
    assert report.created == 180
    names = [c["Name"] for c in env.contacts() if str(c["Name"]).startswith("Parallel")]
    assert len(names) == len(set(names)) == 180
    with env.session() as session:
        writes = list(session.scalars(select(XeroWrite).where(XeroWrite.method == "PUT")))
        by_id = {c.id: c.name for c in session.scalars(select(Customer))}
        links = list(session.scalars(select(XeroLink).where(XeroLink.kind == "contact")))
    assert len(writes) == 4  # 50 + 50 + 50 + 30
    for write in writes:  # the audit context reached the sending threads
        sent = [c["Name"] for c in write.request_body["Contacts"]]
        assert sent == [by_id[i] for i in write.local_ids]
    assert all(link.status == LinkStatus.SYNCED.value for link in links)


def test_a_failed_batch_among_several_leaves_only_its_customers_pending(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Outage Customer {n:03}")
            for n in range(150)
        )
        session.commit()
    env.sandbox.control.add_fault("error", status=503, method="PUT", path="/api.xro/2.0/Contacts")
    with env.session() as session, pytest.raises(ServerError):
        push_pending(env.context(session))
    with env.session() as session:
        statuses = list(session.scalars(select(XeroLink.status).where(XeroLink.kind == "contact")))
    assert statuses.count(LinkStatus.PENDING.value) == 50  # the refused batch, no more
    with env.session() as session:
        report = push_pending(env.context(session))["contacts"]
        session.commit()
    assert report.created == 50
    names = [c["Name"] for c in env.contacts() if str(c["Name"]).startswith("Outage")]
    assert len(names) == len(set(names)) == 150
