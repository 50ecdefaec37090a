"""One lock order, a CRM record's row before its link's, so a CRM save and a pass that write
the same customers never deadlock on PostgreSQL (`outbox`, "Lock order").

Each test runs the two transactions on two threads, each with a connection of its own, and
stops them where they crossed before the lock order was kept: the pass about to take its
first customer row, the CRM with the customer's row taken and about to write its link. Before,
the pass held the link already (its outbox marks), so each waited for the other and
PostgreSQL aborted one (`DeadlockDetected` on `UPDATE xero_links`). Now the pass holds no link
when it takes a record's row, and both finish.

PostgreSQL only: SQLite takes one lock for the whole database, so the CRM's write would wait
for the pass's transaction at its first statement, whatever the order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.fixtures.xerosync import XerosyncEnv
from xerosync import crm
from xerosync.db import make_engine
from xerosync.models import Customer, LinkKind, LinkStatus, XeroLink
from xerosync.sync import outbox
from xerosync.sync.pull import STREAMS_BY_NAME, import_stream
from xerosync.sync.push import push_pending
from xerosync.xero.client import MAX_BATCH

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
outbox.install()

WAIT = 30.0
"""Seconds a thread waits for the other before giving up: a safety net, never a measurement
(the steps are ordered by events, not by time)."""


def locks_customers(statement: str) -> bool:
    """The statement takes customers' rows: an UPDATE, or a SELECT … FOR UPDATE."""
    sql = " ".join(statement.split())
    return sql.startswith("UPDATE customers ") or (
        sql.startswith("SELECT ") and " FROM customers " in sql and sql.endswith("FOR UPDATE")
    )


def writes_links(statement: str) -> bool:
    return " ".join(statement.split()).startswith("UPDATE xero_links ")


@contextmanager
def step_before(
    engine: Engine,
    matches: Callable[[str], bool],
    reached: threading.Event,
    go: threading.Event | None = None,
) -> Iterator[None]:
    """The first statement on `engine` that `matches`: set `reached`, wait for `go` (if
    given), then run it."""
    armed = [True]

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if armed[0] and matches(statement):
            armed[0] = False
            reached.set()
            if go is not None and not go.wait(WAIT):
                raise AssertionError("the other transaction never reached its step")

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hook)


@contextmanager
def database_errors(*engines: Engine) -> Iterator[list[str]]:
    """Every error the database raised on these engines, caught by the code or not (the
    import stores a refused page again record by record, which hid a deadlock)."""
    seen: list[str] = []

    def hook(context: Any) -> None:
        seen.append(f"{type(context.original_exception).__name__}: {context.original_exception}")

    for engine in engines:
        event.listen(engine, "handle_error", hook)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "handle_error", hook)


def run(name: str, work: Callable[[], None], errors: dict[str, BaseException]) -> threading.Thread:
    def target() -> None:
        try:
            work()
        except BaseException as exc:
            errors[name] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def new_customers(env: XerosyncEnv, count: int) -> list[int]:
    """Customers saved by the CRM and never pushed: the pass creates them (their template
    discount is written on the customer's row)."""
    with env.session() as session:
        rows = [
            Customer(connection_id=env.connection_id, name=f"Lock {n}", email=f"l{n}@lock.test")
            for n in range(count)
        ]
        session.add_all(rows)
        session.commit()
        return [row.id for row in rows]


def crossing(
    env: XerosyncEnv, name: str, ours: Callable[[], None], save: Callable[[Session], None]
) -> None:
    """Run `ours` (the pass's transaction) and the CRM's `save` on connections of their own,
    stepped to where they crossed before: ours stops before its first customer row until the
    CRM holds one and is writing that customer's link; the CRM's UPDATE then goes ahead at
    once. Both must finish with no database error at all, caught or not."""
    crm_engine = make_engine(env.settings.DATABASE_URL)  # the CRM's connections, not the pass's
    ours_at_customers, crm_at_link = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}

    def crm_save() -> None:
        if not ours_at_customers.wait(WAIT):
            raise AssertionError(f"the {name} never reached the customers' rows")
        db = crm.session(crm_engine)
        with db.begin():
            save(db)
        db.close()

    try:
        with (
            step_before(env.engine, locks_customers, ours_at_customers, go=crm_at_link),
            step_before(crm_engine, writes_links, crm_at_link),
            database_errors(env.engine, crm_engine) as refused,
        ):
            threads = [run(name, ours, errors), run("crm", crm_save, errors)]
            for thread in threads:
                thread.join(2 * WAIT)
            assert not any(t.is_alive() for t in threads), "a transaction is still waiting"
    finally:
        crm_engine.dispose()
    assert not errors, {who: f"{type(e).__name__}: {e}" for who, e in errors.items()}
    assert not refused, refused
    assert ours_at_customers.is_set() and crm_at_link.is_set()


def test_a_crm_save_and_a_pass_creating_the_same_customers_both_finish(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    # A full batch: the pass pushes it in the transaction that marked the chunk's links.
    ids = new_customers(env, MAX_BATCH)
    changed = ids[1]

    def routine_push() -> None:
        with env.session() as session:
            push_pending(env.context(session))
            session.commit()

    def rename(db: Session) -> None:
        db.get_one(Customer, changed).name = "Lock 1, renamed in the CRM"

    crossing(env, "pass", routine_push, rename)

    # Nothing lost: the next pass sends the CRM's change, and every customer is in Xero.
    with env.session() as session:
        push_pending(env.context(session))
        session.commit()
    with env.session() as session:
        links = {
            link.local_id: link
            for link in session.scalars(
                select(XeroLink).where(XeroLink.kind == LinkKind.CONTACT.value)
            )
        }
    assert all(links[i].status == LinkStatus.SYNCED.value and links[i].xero_id for i in ids)
    contact = env.sandbox.control.record("Contacts", str(links[changed].xero_id))
    assert contact["Name"] == "Lock 1, renamed in the CRM"


def test_a_crm_save_and_an_import_following_a_merge_of_the_same_customer_both_finish(
    xerosync_env: XerosyncEnv,
) -> None:
    """The import writes a merged contact's customer: its link moves to the survivor, and
    the survivor's details come in on the customer. Before, the link was written first (the
    look-up of the page's unlinked contacts flushed it), then the customer's row."""
    env = xerosync_env
    [customer_id] = new_customers(env, 1)
    with env.session() as session:
        import_stream(env.context(session), STREAMS_BY_NAME["contacts"])  # the cursor
        push_pending(env.context(session))
        session.commit()
        link = outbox.get_link(session, env.connection_id, LinkKind.CONTACT, customer_id)
        assert link is not None and link.xero_id
        merged = str(link.xero_id)
        # The survivor, and a contact new to the CRM on the same page (its look-up flushed
        # the moved link before the customer's row was written).
        created, _stranger = env.context(session).client.save(
            "Contacts", [{"Name": "Lock Survivor"}, {"Name": "Lock Stranger"}], method="PUT"
        )
    survivor = str(created.id)
    env.sandbox.control.edit(
        "Contacts", merged, {"ContactStatus": "ARCHIVED", "MergedToContactID": survivor}
    )
    env.sandbox.control.edit("Contacts", survivor, {})


    def import_contacts() -> None:
        with env.session() as session:
            counts = import_stream(env.context(session), STREAMS_BY_NAME["contacts"])
            session.commit()
        assert counts.get("merged") == 1, counts

    def new_phone(db: Session) -> None:
        db.get_one(Customer, customer_id).phone = "+61 2 5550 0100"

    crossing(env, "import", import_contacts, new_phone)
    with env.session() as session:
        link = session.scalars(select(XeroLink).where(XeroLink.local_id == customer_id)).one()
        customer = session.get_one(Customer, customer_id)
    assert link.xero_id == survivor
    assert customer.phone == "+61 2 5550 0100", "the CRM's save is kept"
