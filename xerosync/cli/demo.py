"""`xerosync demo`: the whole story against the sandbox, one step at a time.

Import the Demo Company; create a customer and see its contact with the template's defaults;
change a product's price; confirm a quote and watch the Draft invoice appear; let the
accounts team approve and void it in the sandbox; see "D" come back on the next pass.
Tasks go through the running workers (`make run`); with none answering, the same tasks run
in this process, and the demo says so.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from rich.console import Console
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from xerosync.cli import CommandError
from xerosync.db import get_engine
from xerosync.models import (
    Connection,
    Customer,
    Invoice,
    LinkKind,
    LinkStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    XeroLink,
)
from xerosync.settings import Settings, get_settings

T = TypeVar("T")
WAIT_SECONDS = 30.0


def register(subparsers: Any) -> None:
    demo: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="walk through the whole story against the sandbox"
    )
    demo.set_defaults(handler=_demo)


class Demo:
    """The steps, sharing a console, the database and the sandbox's control client."""

    def __init__(self, settings: Settings) -> None:
        from xerosync.sandbox.control import SandboxControl

        self.settings = settings
        self.console = Console(highlight=False, soft_wrap=True)
        self.engine = get_engine()
        self.control = SandboxControl(settings.XERO_BASE_URL)
        self.step_number = 0
        self.use_workers = False

    def step(self, title: str) -> None:
        self.step_number += 1
        self.console.print(f"\n[bold]{self.step_number}. {title}[/bold]")

    def say(self, text: str) -> None:
        self.console.print(f"   {text}")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- plumbing ----------------------------------------------------------------------
    def check_sandbox(self) -> None:
        if not self.settings.uses_sandbox:
            raise CommandError(
                "the demo runs only against the sandbox (XERO_BASE_URL is not local)"
            )
        try:
            requests.get(f"{self.settings.XERO_BASE_URL}/_sandbox/health", timeout=3)
        except requests.RequestException:
            raise CommandError(
                f"no sandbox answers at {self.settings.XERO_BASE_URL}: start `make run` "
                "(or `xerosync sandbox`) first"
            ) from None

    def find_workers(self) -> None:
        from xerosync.app import app

        try:
            replies = app.control.ping(timeout=1.5) or []
        except Exception:
            replies = []
        self.use_workers = bool(replies)
        if self.use_workers:
            self.say(f"workers answering: {', '.join(sorted(k for r in replies for k in r))}")
        else:
            self.say("[yellow]no worker answered: the tasks run in this process[/yellow]")

    def send(self, task: Any, *args: Any) -> None:
        """Through the broker to the workers, or here when none runs."""
        if self.use_workers:
            task.delay(*args)
        else:
            task.apply(args=args).get()

    def wait_for(self, what: str, check: Callable[[], T | None]) -> T:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise CommandError(f"{what} did not happen within {WAIT_SECONDS:.0f}s")
            time.sleep(0.05)

    def link(self, kind: LinkKind, local_id: int) -> XeroLink | None:
        with self.session() as session:
            return session.scalars(
                select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
            ).first()

    def synced(self, kind: LinkKind, local_id: int) -> XeroLink | None:
        link = self.link(kind, local_id)
        if link is not None and link.status == LinkStatus.ERROR.value:
            raise CommandError(f"Xero rejected {kind.value} #{local_id}: {link.last_error}")
        return link if link is not None and link.status == LinkStatus.SYNCED.value else None

    # -- the story ---------------------------------------------------------------------
    def connect(self) -> int:
        from xerosync.cli import main

        with self.session() as session:
            connection = session.scalars(select(Connection).order_by(Connection.id)).first()
        if connection is None:
            self.step("Connect the sandbox's Demo Company (OAuth2, approved at once)")
            if main(["connect"]) != 0:
                raise CommandError("`xerosync connect` failed")
            with self.session() as session:
                connection = session.scalars(select(Connection).order_by(Connection.id)).one()
        if not connection.template_contact_id:
            from xerosync.cli import main as cli

            self.say("nominating the template ledger contact:")
            cli(["template", "Template Ledger", "--org", connection.tenant_id])
        return connection.id

    def import_company(self, connection_id: int) -> None:
        from xerosync.sync import jobs

        self.step("Import the Demo Company (the routine pass)")
        result = jobs.routine_pass_for(connection_id)
        if result.status not in ("ok", "skipped"):
            raise CommandError(f"the pass ended {result.status}: {result.error}")
        counts = result.detail.get("counts", {})
        for stream in ("contacts", "items", "invoices", "credit_notes"):
            if stream in counts:
                c = counts[stream]
                self.say(f"{stream}: {c['read']} read, {c['created']} new, {c['updated']} updated")
        with self.session() as session:
            self.say(
                f"the CRM now holds {session.query(Customer).count()} customers, "
                f"{session.query(Product).count()} products, "
                f"{session.query(Invoice).count()} sales invoices"
            )

    def create_customer(self, connection_id: int) -> int:
        from xerosync import tasks

        self.step("A rep creates a customer; xerosync creates the Xero contact")
        stamp = datetime.now(UTC).strftime("%H%M%S")
        with self.session() as session:
            customer = Customer(
                connection_id=connection_id, name=f"Demo Customer {stamp}",
                email=f"accounts+{stamp}@demo-customer.example", default_currency="AUD",
                tax_type="OUTPUT", phone="5550100", address_line1="1 Demo Street",
                city="Sydney", country="Australia", first_name="Dee", last_name="Mo",
            )  # fmt: skip
            session.add(customer)
            session.commit()
            customer_id = customer.id
        self.send(tasks.push_contact, customer_id)
        link = self.wait_for("the contact push", lambda: self.synced(LinkKind.CONTACT, customer_id))
        contact = self.control.record("Contacts", str(link.xero_id))
        themes = {t["BrandingThemeID"]: t["Name"] for t in self.control.records("BrandingThemes")}
        theme = themes.get((contact.get("BrandingTheme") or {}).get("BrandingThemeID"), "-")
        terms = (contact.get("PaymentTerms") or {}).get("Sales") or {}
        tracking = ", ".join(
            f"{t['TrackingCategoryName']}: {t['TrackingOptionName']}"
            for t in contact.get("SalesTrackingCategories") or []
        )
        with self.session() as session:
            discount = session.get_one(Customer, customer_id).default_discount
        self.say(f"Xero contact {contact['Name']} ({contact['ContactNumber']})")
        self.say(
            f"from the template ledger: branding theme {theme}; payment terms "
            f"{terms.get('Day')} {terms.get('Type')}; tracking {tracking or '-'}; "
            f"accounts {contact.get('SalesDefaultAccountCode')}/"
            f"{contact.get('PurchasesDefaultAccountCode')}"
        )
        self.say(
            f"the template's discount became the customer's default discount in the CRM: "
            f"{_number(discount)}% (Xero keeps a contact's discount read-only)"
        )
        return customer_id

    def change_price(self, connection_id: int) -> Product:
        from xerosync import tasks

        self.step("A product's price changes; xerosync updates the Xero item")
        with self.session() as session:
            product = session.scalars(
                select(Product)
                .where(
                    Product.connection_id == connection_id,
                    Product.sales_unit_price.is_not(None),
                    Product.is_tracked.is_(False),
                )
                .order_by(Product.code)
            ).first()
            if product is None:
                raise CommandError("the import brought no priced product")
            old = product.sales_unit_price or Decimal(0)
            product.sales_unit_price = (old * Decimal("1.10")).quantize(Decimal("0.01"))
            session.commit()
        self.send(tasks.push_item, product.id)
        # The save marked the item pending; synced again means the new price reached Xero.
        link = self.wait_for("the item push", lambda: self.synced(LinkKind.ITEM, product.id))
        item = self.control.record("Items", str(link.xero_id))
        self.say(
            f"{product.code}: {_number(old)} -> {product.sales_unit_price} in the CRM; Xero's item "
            f"now sells at {item['SalesDetails']['UnitPrice']}"
        )
        return product

    def confirm_quote(self, connection_id: int, customer_id: int, product: Product) -> int:
        from xerosync import tasks

        self.step("The rep confirms a quote; the Draft invoice appears in Xero at once")
        with self.session() as session:
            order = Order(
                connection_id=connection_id, customer_id=customer_id, currency="AUD",
                customer_reference="DEMO-PO-1", delivery_charge=Decimal("15.00"),
                lines=[
                    OrderLine(position=1, product_id=product.id, description=product.name,
                              quantity=Decimal(3), unit_price=product.sales_unit_price
                              or Decimal(10)),
                    OrderLine(position=2, description="Installation", quantity=Decimal(1),
                              unit_price=Decimal("120.00"), account_code="200",
                              tax_type="OUTPUT"),
                ],
            )  # fmt: skip
            session.add(order)
            session.commit()
            order.status = OrderStatus.CONFIRMED.value
            order.confirmed_at = datetime.now(UTC)
            session.commit()
            order_id = order.id
        started = time.monotonic()
        self.send(tasks.create_invoice_for_order, order_id)

        def invoiced() -> str | None:
            with self.session() as session:
                return session.get_one(Order, order_id).xero_invoice_id

        invoice_id = self.wait_for("the Draft invoice", invoiced)
        elapsed = time.monotonic() - started
        invoice = self.control.record("Invoices", invoice_id)
        self.say(
            f"{invoice['InvoiceNumber']} ({invoice['Status']}, {invoice['Type']}) in "
            f"{elapsed * 1000:.0f} ms, total {invoice['Total']} {invoice['CurrencyCode']}, "
            f"reference {invoice['Reference']}"
        )
        for line in invoice["LineItems"]:
            self.say(
                f"  - {line.get('Description')}: {line.get('Quantity')} x "
                f"{line.get('UnitAmount')} ({line.get('AccountCode')}, {line.get('TaxType')}"
                + (f", {line['DiscountRate']}% off" if line.get("DiscountRate") else "")
                + ")"
            )
        return order_id

    def void_in_xero(self, connection_id: int, order_id: int) -> None:
        from xerosync.sync import jobs

        self.step("The accounts team approves, then voids, the invoice in Xero")
        with self.session() as session:
            invoice_id = str(session.get_one(Order, order_id).xero_invoice_id)
        self.control.edit("Invoices", invoice_id, {"Status": "AUTHORISED"})
        self.control.edit("Invoices", invoice_id, {"Status": "VOIDED"})
        self.say("in the sandbox: DRAFT -> AUTHORISED -> VOIDED")
        self.step('The next pass brings the void back: the CRM shows "D"')
        result = jobs.routine_pass_for(connection_id)
        if result.status not in ("ok", "skipped"):
            raise CommandError(f"the pass ended {result.status}: {result.error}")
        with self.session() as session:
            order = session.get_one(Order, order_id)
            copy = session.scalars(
                select(Invoice).where(Invoice.xero_invoice_id == invoice_id)
            ).one()
            self.say(
                f"CRM invoice {copy.invoice_number}: status {copy.status!r} "
                f"(Xero: {copy.xero_status}); order #{order.id} shows "
                f"{order.xero_invoice_status}"
            )
            if copy.status != "D":
                raise CommandError("the voided invoice did not come back as D")


def _number(value: Decimal | None) -> str:
    return "-" if value is None else format(value.normalize(), "f")


def _demo(_args: argparse.Namespace) -> int:
    settings = get_settings()
    demo = Demo(settings)
    demo.console.print(
        f"[bold]xerosync demo[/bold] against the sandbox at {settings.XERO_BASE_URL}"
    )
    demo.check_sandbox()
    if not inspect(demo.engine).has_table("connections"):
        raise CommandError("the database has no schema yet: run `xerosync db upgrade`")
    demo.find_workers()
    connection_id = demo.connect()
    demo.import_company(connection_id)
    customer_id = demo.create_customer(connection_id)
    product = demo.change_price(connection_id)
    order_id = demo.confirm_quote(connection_id, customer_id, product)
    demo.void_in_xero(connection_id, order_id)
    demo.console.print(
        "\n[green]demo complete[/green]: every step above ran against the "
        "sandbox; `xerosync status` shows the state"
    )
    return 0
