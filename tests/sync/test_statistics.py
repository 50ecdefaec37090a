"""A bulk change is analysed before the push plans its join (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.fixtures.waiting import eventually
from xerosync.models import Connection, Customer
from xerosync.sync import statistics


def _changed_since_analyze(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(
            conn.execute(
                text("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                {"t": table},
            ).scalar_one()
        )


def test_a_bulk_insert_is_analysed_once_and_small_changes_are_not(engine: Engine) -> None:
    with Session(engine) as session:
        if engine.dialect.name != "postgresql":
            assert statistics.refresh_if_stale(session) == []
            return
        session.execute(text("ANALYZE customers"))
        session.commit()
        connection = Connection(tenant_id="t-stats", tenant_name="Stats Org")
        session.add(connection)
        session.flush()
        connection_id = connection.id
        session.add_all(Customer(connection_id=connection_id, name=f"B{n}") for n in range(3000))
        session.commit()
    eventually(lambda: _changed_since_analyze(engine, "customers") >= 3000, timeout=10)
    with Session(engine) as session:
        assert "customers" in statistics.refresh_if_stale(session)
    assert _changed_since_analyze(engine, "customers") == 0
    with Session(engine) as session:
        session.add(Customer(connection_id=connection_id, name="One more"))
        session.commit()
        assert "customers" not in statistics.refresh_if_stale(session)
