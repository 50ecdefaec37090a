"""Engines: what each backend is set up with, and why it matters."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.fixtures.database import PG_ADMIN_URL, postgres_available
from xerosync.db import lock_conflict, make_engine, normalise_url, once_more_on_lock_conflict


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.postgres
def test_postgresql_queries_are_planned_afresh_each_time() -> None:
    """A prepared, generically planned `IN (1,000 ids)` compared every row with every id in
    turn: the import's look-up per page grew to a second at 60k invoices."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL does not answer at {PG_ADMIN_URL}")
    engine = make_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            for _ in range(8):  # past psycopg's default threshold of 5
                conn.execute(text("SELECT 1 WHERE 1 IN (:a, :b)"), {"a": 1, "b": 2})
            assert conn.connection.driver_connection.prepare_threshold is None
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() == 0
    finally:
        engine.dispose()


class _DriverError(Exception):
    """What psycopg raises, as far as `lock_conflict` looks: its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failed(sqlstate: str) -> OperationalError:
    return OperationalError("UPDATE xero_links SET ...", {}, _DriverError(sqlstate))


def test_deadlock_and_serialization_victims_are_lock_conflicts() -> None:
    assert lock_conflict(_failed("40P01")) == "deadlock"
    assert lock_conflict(_failed("40001")) == "serialization failure"
    assert lock_conflict(_failed("57P01")) is None  # the server shutting down
    assert lock_conflict(IntegrityError("INSERT", {}, _DriverError("23505"))) is None
    assert lock_conflict(ValueError("40P01")) is None


def test_a_deadlock_victim_is_run_again_once_after_its_rollback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def work() -> str:
        calls.append("work")
        if calls.count("work") == 1:
            raise _failed("40P01")
        return "stored"

    with caplog.at_level(logging.WARNING, "xerosync.db"):
        result = once_more_on_lock_conflict(
            work, "a page of contacts", lambda: calls.append("undo")
        )
    assert result == "stored"
    assert calls == ["work", "undo", "work"]
    assert "a page of contacts: the database aborted it as a deadlock's victim" in caplog.text


def test_a_second_conflict_or_any_other_error_is_raised() -> None:
    def always(sqlstate: str) -> None:
        raise _failed(sqlstate)

    undone: list[int] = []
    with pytest.raises(OperationalError):
        once_more_on_lock_conflict(lambda: always("40P01"), "twice", lambda: undone.append(1))
    assert undone == [1]
    with pytest.raises(OperationalError):
        once_more_on_lock_conflict(lambda: always("57P01"), "other", lambda: undone.append(2))
    assert undone == [1], "no second try for an error that is not a lock conflict"
