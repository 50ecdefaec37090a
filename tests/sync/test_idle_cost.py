"""An idle pass costs in proportion to what changed, and rows written around the ORM (raw SQL,
another application) are still pushed: the database moves their `row_version` and the pass
fingerprints only rows whose version moved since their link last saw it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, LinkStatus, Product, XeroLink
from xerosync.sync import outbox
from xerosync.sync.push import push_pending

pytestmark = pytest.mark.integration
outbox.install()


@pytest.fixture
def fingerprints(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The ids of the records whose fingerprint was derived."""
    seen: list[int] = []
    real = outbox.desired_fingerprint

    def counting(record: Customer | Product) -> str:
        seen.append(record.id)
        return real(record)

    monkeypatch.setattr(outbox, "desired_fingerprint", counting)
    yield seen


def link(env: XerosyncEnv, kind: LinkKind, local_id: int) -> XeroLink:
    with env.session() as session:
        return session.scalars(
            select(XeroLink).where(XeroLink.kind == kind.value, XeroLink.local_id == local_id)
        ).one()


def synced_organisation(env: XerosyncEnv, customers: int = 5) -> list[int]:
    """Customers and a product, all pushed, and one routine push pass over them since."""
    with env.session() as session:
        rows = [
            Customer(connection_id=env.connection_id, name=f"Idle {i}", email=f"i{i}@idle.test")
            for i in range(customers)
        ]
        session.add_all(rows)
        session.add(Product(connection_id=env.connection_id, code="IDLE-1", name="Idle item"))
        session.commit()
        ids = [r.id for r in rows]
    with env.session() as session:
        report = push_pending(env.context(session))
        session.commit()
    assert report["contacts"].created == customers
    assert report["items"].created + report["items"].linked == 1
    with env.session() as session:  # the rows that push wrote (template defaults) looked at once
        push_pending(env.context(session))
        session.commit()
    return ids


def push_calls(env: XerosyncEnv) -> list[dict[str, Any]]:
    return [
        r
        for r in env.sandbox.control.requests(path="/api.xro/2.0")
        if r["method"] in ("PUT", "POST")
    ]


def test_an_idle_push_pass_fingerprints_nothing_and_reads_no_record(
    xerosync_env: XerosyncEnv, fingerprints: list[int]
) -> None:
    env = xerosync_env
    synced_organisation(env)
    fingerprints.clear()
    env.sandbox.control.clear_requests()
    loaded: list[object] = []
    with env.session() as session:
        event.listen(session, "loaded_as_persistent", lambda _s, obj: loaded.append(obj))
        report = push_pending(env.context(session))
        session.commit()
    assert fingerprints == []
    assert [o for o in loaded if isinstance(o, (Customer, Product, XeroLink))] == []
    assert env.sandbox.control.requests(path="/api.xro/2.0") == []
    assert report["contacts"].created == report["contacts"].updated == 0


def test_a_raw_sql_update_is_pushed_by_the_next_pass(
    xerosync_env: XerosyncEnv, fingerprints: list[int]
) -> None:
    env = xerosync_env
    ids = synced_organisation(env)
    changed = ids[2]
    with env.engine.begin() as conn:  # no ORM, no hook: as another application would
        conn.execute(
            text("UPDATE customers SET email = 'moved@idle.test' WHERE id = :id"),
            {"id": changed},
        )
    fingerprints.clear()
    env.sandbox.control.clear_requests()
    with env.session() as session:
        report = push_pending(env.context(session))
        session.commit()
    assert report["contacts"].updated == 1
    assert set(fingerprints) == {changed}  # the one row whose version moved, nothing else
    contact_id = link(env, LinkKind.CONTACT, changed).xero_id
    assert env.sandbox.control.record("Contacts", str(contact_id))["EmailAddress"] == (
        "moved@idle.test"
    )
    assert link(env, LinkKind.CONTACT, changed).status == LinkStatus.SYNCED.value
    assert len(push_calls(env)) == 1


def test_a_raw_sql_price_change_of_a_product_is_pushed(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    synced_organisation(env, customers=1)
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE products SET sales_unit_price = 12.5 WHERE code = 'IDLE-1'"))
    with env.session() as session:
        report = push_pending(env.context(session))
        session.commit()
    assert report["items"].updated + report["items"].created == 1
    item = next(i for i in env.sandbox.control.records("Items") if i.get("Code") == "IDLE-1")
    assert float(item["SalesDetails"]["UnitPrice"]) == 12.5


def test_a_raw_sql_insert_is_pushed_by_the_next_pass(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    synced_organisation(env, customers=1)
    with env.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (connection_id, name, is_active, created_at, updated_at)"
                " VALUES (:org, 'Raw Row Pty', :yes, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"org": env.connection_id, "yes": True},
        )
    with env.session() as session:
        report = push_pending(env.context(session))
        session.commit()
    assert report["contacts"].created == 1
    assert any(c["Name"] == "Raw Row Pty" for c in env.contacts())


def test_a_raw_update_that_changes_no_pushed_field_costs_no_call(
    xerosync_env: XerosyncEnv, fingerprints: list[int]
) -> None:
    env = xerosync_env
    ids = synced_organisation(env, customers=2)
    with env.engine.begin() as conn:
        conn.execute(
            text("UPDATE customers SET updated_at = updated_at WHERE id = :id"), {"id": ids[0]}
        )
    fingerprints.clear()
    env.sandbox.control.clear_requests()
    with env.session() as session:
        push_pending(env.context(session))
        session.commit()
    assert set(fingerprints) == {ids[0]}
    assert push_calls(env) == []
    fingerprints.clear()
    with env.session() as session:  # and it is not looked at again
        push_pending(env.context(session))
        session.commit()
    assert fingerprints == []
