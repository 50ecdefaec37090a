"""Nothing lost, nothing twice: confirmations and customer changes through injected faults.

While a producer confirms 500 orders and makes 2,000 customer changes (each saved, then its
task enqueued, as the CRM does), the sandbox is told to fail requests in every way it knows
(5xx, slow past the client's timeout, dropped, applied with the answer lost), Xero goes down
for several seconds (every call answers 503: longer than three retries take, so a task whose
retries ran out would end in an exception), the invoice worker is killed with SIGKILL in the
middle of writing an invoice, and the Redis server that is both broker and budget store is
restarted, losing every queued task (on RabbitMQ, `both_brokers`' other param: Redis, the
budget store, is restarted and RabbitMQ closes every connection to the test's vhost; queued
tasks survive there, at two fifths of the load: `LOADS`). Then the workers are
stopped, faults end, and routine passes catch up, as beat's would.

Afterwards the sandbox holds exactly one invoice per confirmed order and every customer's
latest details, and every link is either synced or carries an error an operator can read.
On the way, the sandbox served no 429, no task ended in an exception (Celery's "raised
unexpected"), and the only tracebacks in any worker's log are those the run caused on purpose
(`tests/faults/logs.py`: retries that could not be sent while Redis was down).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from tests.faults.conftest import FaultEnv, stop_all
from tests.faults.logs import Allowance, explained_tracebacks, unexplained_tracebacks
from tests.faults.processes import Worker
from tests.fixtures.worker_logs import retries, unexpected_errors
from xerosync.models import (
    Customer,
    LinkKind,
    LinkStatus,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    SyncConflict,
    XeroLink,
)
from xerosync.sync import jobs
from xerosync.tasks import create_invoice_for_order, push_contact, run_pass_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.integration,
    pytest.mark.both_brokers,
    # The first import `connect` queues runs alongside: its writes and its first push of the
    # 400 customers overlap the producer's changes (PostgreSQL found a deadlock there before
    # the lock order: `xerosync.sync.outbox`).
    pytest.mark.first_import,
    pytest.mark.timeout(420),
]

SEED = 20261125


@dataclass(frozen=True)
class Load:
    """How much the producer does, and over how long (the workers keep up with it)."""

    customers: int
    orders: int
    changes: int
    seconds: float


LOADS = {
    "redis": Load(customers=400, orders=500, changes=2000, seconds=40.0),
    # The same faults at two fifths of the traffic: the suite stays under its time budget
    # with both brokers; every fault kind, the kill, the restart and the outage still strike.
    "rabbitmq": Load(customers=160, orders=200, changes=800, seconds=16.0),
}
PRODUCTS = 4
FAULT_EVERY = 0.2
"""Seconds between two faults armed while the producer runs (if their target is free)."""
PASS_EVERY = 10.0
"""Seconds between routine passes enqueued during the load, as beat would."""
KILL_AT, RESTART_AT, OUTAGE_AT = 0.3, 0.6, 0.8
"""Where in the producer's run the invoice worker is killed, Redis is restarted and Xero goes
down."""
OUTAGE_SECONDS = 8.0
"""Every accounting call answers 503 this long: the invoice policy's retries (1, 2, 3, 3 s…)
outlast Celery's default of three."""

API = "/api.xro/2.0"
KILL_MARKER_SECONDS = 4.25
"""The slow fault that marks "an invoice write is in flight": kill the worker then."""


@dataclass
class Expected:
    """What the CRM last said about a customer (its latest details)."""

    name: str
    email: str
    phone: str
    city: str


@dataclass
class Record:
    """What happened during the run, for the report and for the assertions."""

    faults: Counter[str] = field(default_factory=Counter)
    enqueue_failures: int = 0
    killed_mid_write: bool = False
    kill_waited: float = 0.0
    redis_restarted: bool = False
    redis_down: tuple[float, float] | None = None
    outage_armed: bool = False
    """Wall-clock seconds: the restart began, Redis answered again."""
    killed_log: str | None = None
    passes_enqueued: int = 0
    catch_up_passes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    backlog_at_restart: int = 0
    timings: dict[str, float] = field(default_factory=dict)


# -- the CRM's data --------------------------------------------------------------------
def details(index: int, version: int) -> Expected:
    """A customer's details at a given version; unicode names on odd versions."""
    accent = " Café Ü" if version % 2 else ""
    return Expected(
        name=f"Fault Customer {index:04d} v{version}{accent}",
        email=f"c{index}.v{version}@faults.example.com",
        phone=f"+61 2 {version:04d} {index:04d}",
        city=f"Town {version}",
    )


def seed_crm(
    env: FaultEnv, rng: random.Random, load: Load
) -> tuple[list[int], list[int], dict[int, Expected]]:
    """Customers, products and quotes, saved as the CRM saves them (the outbox marks them)."""
    expected: dict[int, Expected] = {}
    with env.session() as session:
        products = [
            Product(
                connection_id=env.connection_id,
                code=f"FLT-{n}",
                name=f"Fault product {n}",
                sales_unit_price=Decimal(10 * n),
                sales_account_code="200",
                sales_tax_type="OUTPUT",
            )
            for n in range(1, PRODUCTS + 1)
        ]
        session.add_all(products)
        customers = []
        for index in range(load.customers):
            d = details(index, 0)
            customers.append(
                Customer(
                    connection_id=env.connection_id,
                    name=d.name,
                    email=d.email,
                    phone=d.phone,
                    city=d.city,
                    default_currency="AUD",
                )
            )
        session.add_all(customers)
        session.flush()
        orders = []
        for number in range(load.orders):
            lines = [
                OrderLine(
                    position=p,
                    product=rng.choice(products),
                    quantity=Decimal(rng.randint(1, 9)),
                    unit_price=Decimal(rng.randint(100, 9999)) / 100,
                )
                for p in range(rng.randint(1, 3))
            ]
            orders.append(
                Order(
                    connection_id=env.connection_id,
                    customer=rng.choice(customers),
                    number=f"Q-{number:05d}",
                    currency="AUD",
                    customer_reference=f"PO-{number:05d}",
                    delivery_charge=Decimal("9.50") if number % 3 == 0 else None,
                    lines=lines,
                )
            )
        session.add_all(orders)
        session.commit()
        customer_ids = [c.id for c in customers]
        for index, customer_id in enumerate(customer_ids):
            expected[customer_id] = details(index, 0)
        return customer_ids, [o.id for o in orders], expected


# -- the troublemakers ------------------------------------------------------------------
FAULT_TARGETS: list[tuple[str | None, str | None]] = [
    ("PUT", f"{API}/Invoices"),
    ("PUT", f"{API}/Invoices"),
    ("GET", f"{API}/Invoices"),
    ("PUT", f"{API}/Contacts"),
    ("POST", f"{API}/Contacts"),
    ("POST", f"{API}/Contacts"),
    ("GET", f"{API}/Contacts"),
    ("POST", f"{API}/Items"),
    (None, None),
]


def inject_faults(env: FaultEnv, stop: threading.Event, record: Record, seed: int) -> None:
    """Arm a random fault every FAULT_EVERY seconds, one at a time per target, until stopped.

    A fault waits for a matching request, so arming them by the clock alone would pile them
    up on rare paths (every invoice write would fail); one armed fault per target keeps the
    share of failed requests in proportion to the traffic.
    """
    from xerosync.sandbox.control import SandboxControl

    rng = random.Random(seed)
    control = SandboxControl(env.sandbox.url, timeout=10)
    while not stop.wait(FAULT_EVERY):
        try:
            method, path = rng.choice(FAULT_TARGETS)
            armed = {(f["method"], f["path"]) for f in control.faults()}
            if (method, path) in armed:
                continue
            kind = rng.choice(("error", "slow", "drop", "lost_response", "lost_response"))
            extra: dict[str, Any] = {}
            if kind == "error":
                extra["status"] = rng.choice((500, 502, 503, 504))
            elif kind == "slow":
                extra["seconds"] = rng.choice((0.5, 3.0))  # 3 s outlasts the client
            control.add_fault(kind, method=method, path=path, **extra)
            record.faults[kind] += 1
        except Exception as exc:  # the sandbox is in this process: this should not happen
            record.errors.append(f"arming a fault failed: {exc}")


def kill_invoice_worker_mid_write(env: FaultEnv, worker: Worker, record: Record) -> Worker:
    """Slow down the next invoice write; once it is in flight, SIGKILL its worker's group.

    Only the invoice worker writes invoices while this runs, so the write in flight is its.
    The sandbox completes the write after the kill: Xero holds an invoice whose worker died
    before recording it. A new invoice worker takes the killed one's place.
    """
    from xerosync.sandbox.control import SandboxControl

    control = SandboxControl(env.sandbox.url, timeout=10)
    control.add_fault("slow", method="PUT", path=f"{API}/Invoices", seconds=KILL_MARKER_SECONDS)
    started = time.monotonic()
    deadline = started + 20
    while time.monotonic() < deadline:
        armed = [f for f in control.faults() if f["seconds"] == KILL_MARKER_SECONDS]
        if not armed:
            record.killed_mid_write = True
            break
        time.sleep(0.02)
    record.kill_waited = time.monotonic() - started
    record.killed_log = worker.log_path.name
    worker.kill()
    return env.start_worker("invoices-2", "invoices", concurrency=2)


def broker_backlog(env: FaultEnv) -> int:
    """Messages still queued or delivered-but-unacknowledged in the suite's broker."""
    return env.broker.backlog()


# -- the checks ---------------------------------------------------------------------------
@dataclass
class Verdict:
    missing_invoices: list[int] = field(default_factory=list)
    duplicate_invoices: dict[int, int] = field(default_factory=dict)
    unrecorded_invoices: list[int] = field(default_factory=list)
    stale_customers: dict[int, str] = field(default_factory=dict)
    stuck_links: list[str] = field(default_factory=list)
    visible_errors: list[str] = field(default_factory=list)
    stray_invoices: int = 0

    @property
    def converged(self) -> bool:
        return not (
            self.missing_invoices
            or self.duplicate_invoices
            or self.unrecorded_invoices
            or self.stale_customers
            or self.stuck_links
            or self.stray_invoices
        )


def _contact_view(contact: dict[str, Any]) -> Expected:
    phones = {p.get("PhoneType"): p for p in contact.get("Phones") or []}
    addresses = {a.get("AddressType"): a for a in contact.get("Addresses") or []}
    return Expected(
        name=contact.get("Name") or "",
        email=contact.get("EmailAddress") or "",
        phone=(phones.get("DEFAULT") or {}).get("PhoneNumber") or "",
        city=(addresses.get("STREET") or {}).get("City") or "",
    )


def verdict(env: FaultEnv, order_ids: list[int], expected: dict[int, Expected]) -> Verdict:
    """Compare the sandbox with what the CRM said; list every link that is stuck."""
    result = Verdict()
    url_of = {oid: env.settings.CRM_ORDER_URL.format(order_id=oid) for oid in order_ids}
    order_of_url = {url: oid for oid, url in url_of.items()}
    invoices: dict[int, list[dict[str, Any]]] = {oid: [] for oid in order_ids}
    prefix = env.settings.CRM_ORDER_URL.split("{order_id}")[0]
    for invoice in env.control.records("Invoices"):
        url = invoice.get("Url") or ""
        if invoice.get("Status") == "DELETED" or not url.startswith(prefix):
            continue
        if url in order_of_url:
            invoices[order_of_url[url]].append(invoice)
        else:
            result.stray_invoices += 1
    contacts = {c["ContactID"]: c for c in env.control.records("Contacts")}

    with env.session() as session:
        links = {
            (link.kind, link.local_id): link
            for link in session.scalars(
                select(XeroLink).where(XeroLink.connection_id == env.connection_id)
            )
        }
        orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(order_ids)))}
    for oid in order_ids:
        found = invoices[oid]
        if len(found) > 1:
            result.duplicate_invoices[oid] = len(found)
        elif not found:
            result.missing_invoices.append(oid)
        elif orders[oid].xero_invoice_id != found[0]["InvoiceID"]:
            result.unrecorded_invoices.append(oid)
    for customer_id, want in expected.items():
        link = links.get((LinkKind.CONTACT.value, customer_id))
        contact = contacts.get(link.xero_id) if link is not None and link.xero_id else None
        have = _contact_view(contact) if contact is not None else None
        if have != want:
            result.stale_customers[customer_id] = f"Xero has {have}, the CRM said {want}"
            if link is not None:  # what an investigation needs first
                with env.session() as session:
                    row = session.get_one(Customer, customer_id)
                    conflicts = [
                        (c.winner, c.crm_changed_at, c.xero_changed_at)
                        for c in session.scalars(
                            select(SyncConflict).where(SyncConflict.local_id == customer_id)
                        )
                    ]
                result.stale_customers[customer_id] += (
                    f"; CRM row now {row.name!r}; link {link.status}"
                    f" fingerprint={link.fingerprint} pushed={link.pushed_fingerprint}"
                    f" xero_updated={link.xero_updated_at} conflicts={conflicts}"
                    f" contact updated {contact.get('UpdatedDateUTC') if contact else None}"
                )
    for (kind, local_id), link in links.items():
        label = f"{kind} #{local_id}: {link.status}"
        if link.status == LinkStatus.SYNCED.value and link.xero_id:
            continue
        if link.status in (LinkStatus.ERROR.value, LinkStatus.DEFERRED.value) and link.last_error:
            result.visible_errors.append(f"{label}: {link.last_error}")
            continue
        result.stuck_links.append(f"{label} (no error an operator can see)")
    return result


def catch_up(
    env: FaultEnv,
    order_ids: list[int],
    expected: dict[int, Expected],
    record: Record,
    deadline: float,
) -> Verdict:
    """Routine passes, as beat runs them, until everything is settled or time is up."""
    current = verdict(env, order_ids, expected)
    while not current.converged and time.monotonic() < deadline:
        result = jobs.routine_pass_for(env.connection_id)
        record.catch_up_passes.append(f"{result.status}: {result.error or ''}".strip(": "))
        current = verdict(env, order_ids, expected)
        if current.converged:
            break
        # Deferred records wait for their time; the pass after it takes them.
        with env.session() as session:
            due = session.scalars(
                select(XeroLink.retry_after).where(
                    XeroLink.status == LinkStatus.DEFERRED.value,
                    XeroLink.retry_after.is_not(None),
                )
            ).all()
        wait = max((d - datetime.now(UTC)).total_seconds() for d in due) if due else 0.5
        time.sleep(min(max(wait, 0.5), max(0.0, deadline - time.monotonic()), 20.0))
    return current


# -- the run ------------------------------------------------------------------------------
def test_nothing_lost_nothing_twice_through_faults_kills_and_a_redis_restart(
    fault_env: FaultEnv,
) -> None:
    env = fault_env
    load = LOADS[env.broker.kind]
    rng = random.Random(SEED)
    customer_ids, order_ids, expected = seed_crm(env, rng, load)
    versions = dict.fromkeys(customer_ids, 0)
    index_of = {cid: i for i, cid in enumerate(customer_ids)}
    operations: list[tuple[str, int]] = [
        ("change", rng.choice(customer_ids)) for _ in range(load.changes)
    ] + [("confirm", oid) for oid in order_ids]
    rng.shuffle(operations)
    record = Record()

    invoice_worker = env.start_worker("invoices-1", "invoices", concurrency=2)
    env.start_worker("sync-1", "sync", concurrency=3)

    stop_faults = threading.Event()
    faults = threading.Thread(
        target=inject_faults, args=(env, stop_faults, record, SEED + 1), daemon=True
    )
    helpers: list[threading.Thread] = []

    def enqueue(task: Any, *args: Any) -> None:
        try:
            task.delay(*args)
        except Exception:  # broker down: the outbox (database) still has it
            record.enqueue_failures += 1

    def kill() -> None:
        try:
            kill_invoice_worker_mid_write(env, invoice_worker, record)
        except Exception as exc:
            record.errors.append(f"kill: {type(exc).__name__}: {exc}")

    def restart() -> None:
        try:
            record.backlog_at_restart = broker_backlog(env)
            began = time.time()
            if env.broker.kind == "rabbitmq":
                env.broker.outage()  # the broker drops everyone; Redis (budget) restarts
            env.redis.restart(down_for=1.5)
            record.redis_down = (began, time.time())
            record.redis_restarted = True
        except Exception as exc:
            record.errors.append(f"redis restart: {type(exc).__name__}: {exc}")

    try:
        faults.start()
        started = time.monotonic()
        next_pass = None
        for number, (what, record_id) in enumerate(operations):
            due = started + load.seconds * number / len(operations)
            time.sleep(max(0.0, due - time.monotonic()))
            if number == int(KILL_AT * len(operations)):
                helpers.append(threading.Thread(target=kill, daemon=True))
                helpers[-1].start()
            if number == int(RESTART_AT * len(operations)):
                helpers.append(threading.Thread(target=restart, daemon=True))
                helpers[-1].start()
            if number == int(OUTAGE_AT * len(operations)):
                try:
                    env.control.outage(OUTAGE_SECONDS, status=503)
                    record.outage_armed = True
                except Exception as exc:
                    record.errors.append(f"outage: {type(exc).__name__}: {exc}")
            if record.killed_mid_write or record.kill_waited:
                # Beat's routine pass, once the kill is done (only the invoice worker may
                # write invoices while the kill waits for one in flight).
                now = time.monotonic()
                if next_pass is None or now >= next_pass:
                    enqueue(run_pass_for, env.connection_id)
                    record.passes_enqueued += 1
                    next_pass = now + PASS_EVERY
            with env.session() as session:
                if what == "change":
                    versions[record_id] += 1
                    want = details(index_of[record_id], versions[record_id])
                    customer = session.get_one(Customer, record_id)
                    customer.name, customer.email = want.name, want.email
                    customer.phone, customer.city = want.phone, want.city
                    session.commit()
                    expected[record_id] = want
                    enqueue(push_contact, record_id)
                else:
                    order = session.get_one(Order, record_id)
                    order.status = OrderStatus.CONFIRMED.value
                    order.confirmed_at = datetime.now(UTC)
                    session.commit()
                    enqueue(create_invoice_for_order, record_id)
        for helper in helpers:
            helper.join(timeout=60)
        record.timings["load"] = time.monotonic() - started
        # Let the workers finish what the broker still holds (bounded), then stop them.
        drain_deadline = time.monotonic() + 30
        while broker_backlog(env) != 0 and time.monotonic() < drain_deadline:
            time.sleep(0.5)
        record.timings["drain"] = time.monotonic() - started - record.timings["load"]
    finally:
        stop_faults.set()
        faults.join(timeout=15)
        stop_all(env.workers)
    env.control.clear_faults()

    caught_up = time.monotonic()
    final = catch_up(env, order_ids, expected, record, deadline=time.monotonic() + 90)
    record.timings["catch_up"] = time.monotonic() - caught_up

    served_429s = env.served_429s()
    logs = "\n".join(path.read_text(errors="replace") for path in env.log_paths())
    crashed = unexpected_errors(logs)
    allow = Allowance(
        env.redis.port, record.redis_down, record.killed_log, amqp=env.broker.kind == "rabbitmq"
    )
    unexplained = unexplained_tracebacks(env.log_paths(), allow)
    report = (
        f"broker {env.broker.kind}, load {load}, timings {record.timings}, "
        f"backlog at restart {record.backlog_at_restart}, "
        f"faults armed {dict(record.faults)}, enqueue failures {record.enqueue_failures}, "
        f"passes during load {record.passes_enqueued}, catch-up {record.catch_up_passes}, "
        f"visible errors {len(final.visible_errors)}: {final.visible_errors[:5]}, "
        f"429s served {served_429s}, task retries {len(retries(logs))}, tasks that raised "
        f"{len(crashed)}, tracebacks explained by the broker restart or the kill "
        f"{explained_tracebacks(env.log_paths(), allow)}, unexplained {len(unexplained)}"
    )
    print(report)
    assert not record.errors, record.errors
    assert record.killed_mid_write, "no invoice write was in flight to kill the worker in"
    assert record.redis_restarted
    assert record.outage_armed
    # The path, not only the end state: Xero never refused a call, and every failure a task
    # met was one the retry policy handled (retry, defer or a recorded error), not a crash.
    assert served_429s == 0, f"the sandbox served {served_429s} 429s; {report}"
    assert not crashed, f"{len(crashed)} tasks ended in an exception: {crashed[:10]}; {report}"
    assert not unexplained, (
        f"{len(unexplained)} tracebacks no fault of the run explains: {unexplained[:10]}"
    )
    # Faults are armed one per target and wait for matching traffic, so their number follows
    # the traffic; what matters is that every kind struck, several times.
    assert all(record.faults[kind] >= 5 for kind in ("error", "slow", "drop", "lost_response")), (
        report
    )
    assert not final.duplicate_invoices, f"orders invoiced twice: {final.duplicate_invoices}"
    assert not final.stray_invoices, f"{final.stray_invoices} invoices name no known order"
    assert not final.missing_invoices, (
        f"{len(final.missing_invoices)} confirmed orders have no invoice: "
        f"{final.missing_invoices[:10]}; {report}\n{env.worker_logs()}"
    )
    assert not final.unrecorded_invoices, final.unrecorded_invoices[:10]
    assert not final.stale_customers, (
        f"{len(final.stale_customers)} customers' latest details are not in Xero: "
        f"{list(final.stale_customers.items())[:5]}; {report}"
    )
    assert not final.stuck_links, final.stuck_links[:10]
