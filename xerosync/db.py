"""Engine and session scope.

One engine per database URL per process. SQLite gets foreign keys, WAL and a busy timeout so
several worker processes can share the file the embedded setup uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from xerosync.settings import get_settings

log = logging.getLogger(__name__)

R = TypeVar("R")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs, the driver xerosync installs."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`, creating the folder of a SQLite file if needed."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No server-side prepared statements: psycopg prepares a query after five runs, and
    # PostgreSQL may then plan it once for any parameters. For the import's look-ups by a
    # page of Xero ids (`IN` 1,000 values) that generic plan compares each row with every
    # value in turn instead of hashing them, and a page's look-up grew to a second at 60k
    # invoices. Planned afresh, it stays a few milliseconds.
    return create_engine(url, pool_pre_ping=True, connect_args={"prepare_threshold": None})


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The engine of the configured DATABASE_URL."""
    return engine_for(get_settings().DATABASE_URL)


@lru_cache(maxsize=8)
def _sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    session = _sessionmaker(engine or get_engine())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


LOCK_CONFLICTS = {"40P01": "deadlock", "40001": "serialization failure"}
"""PostgreSQL's SQLSTATEs for a transaction it aborted to break a deadlock or a serialization
conflict: nothing is wrong with what it wrote, and the same transaction run again succeeds."""


def lock_conflict(exc: BaseException) -> str | None:
    """ "deadlock" or "serialization failure" when the database aborted the transaction as
    the victim of one; None for any other error."""
    if not isinstance(exc, DBAPIError):
        return None
    return LOCK_CONFLICTS.get(str(getattr(exc.orig, "sqlstate", "") or ""))


def once_more_on_lock_conflict(work: Callable[[], R], what: str, undo: Callable[[], None]) -> R:
    """`work()`, run a second time if the database aborted it as a deadlock's (or a
    serialization conflict's) victim, after `undo()` (the rollback). A second conflict is
    raised: the caller's retry (a task's, the next pass) takes it from there.

    xerosync's own transactions take rows in one order (`outbox`, "Lock order"), so this is for
    a writer that does not, e.g. a CRM saving several customers out of id order.
    """
    try:
        return work()
    except DBAPIError as exc:
        why = lock_conflict(exc)
        if why is None:
            raise
        undo()
        log.warning("%s: the database aborted it as a %s's victim; running it again", what, why)
        return work()
