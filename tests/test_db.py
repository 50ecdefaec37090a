"""Engines: what each backend is set up with, and why it matters."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.fixtures.database import PG_ADMIN_URL, postgres_available
from xerosync.db import make_engine, normalise_url


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
