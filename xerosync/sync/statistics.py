"""Fresh planner statistics after a bulk change, on PostgreSQL.

The pass finds what to push with one join of customers (or products) to their links, and the
database does the choosing so an idle pass reads no rows. PostgreSQL plans that join from its
statistics; right after a CRM writes 20,000 customers, before autovacuum's analyze has run
(or where autovacuum is off, as on the build machines), it still believes the tables hold a
few rows and picks a nested loop that scans every link for every customer: 40 s a chunk of
1,000 at 20,000 (bench.many_orgs --backlog 20000), 17 ms once analysed. So before the push, a
pass looks at how much of each table changed since its last analyze (one catalog query) and,
past `STALE_SHARE` of its rows (and `STALE_MIN_ROWS`), analyses it itself. Autovacuum's own
threshold (10 % + 50) is lower, so where it runs it nearly always gets there first. One pass
at a time does it (an advisory lock; the others go on with the old statistics). A refusal
(the database user does not own the table) is logged and the pass goes on.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

STALE_SHARE = 0.2
STALE_MIN_ROWS = 1000
SYNCED_TABLES = ("customers", "products", "xero_links")
_LOCK_KEY = zlib.crc32(b"xerosync:analyze")


def refresh_if_stale(session: Session, tables: Sequence[str] = SYNCED_TABLES) -> list[str]:
    """ANALYZE those of `tables` changed by more than STALE_SHARE since their last analyze;
    returns the ones analysed (none off PostgreSQL). Commits the session's transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    rows = session.execute(
        text(
            "SELECT relname, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = ANY(:tables)"
        ),
        {"tables": list(tables)},
    ).all()
    stale = [
        str(name)
        for name, live, changed in rows
        if changed >= max(STALE_MIN_ROWS, STALE_SHARE * (live or 0))
    ]
    if not stale:
        return []
    if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}).scalar():
        return []  # another pass is analysing right now
    done = []
    for table in sorted(stale):
        try:
            with session.begin_nested():
                session.execute(text(f'ANALYZE "{table}"'))
            done.append(table)
        except DBAPIError as exc:
            log.warning("planner statistics of %s not refreshed: %s", table, exc.orig)
    session.commit()
    if done:
        log.info("planner statistics refreshed after a bulk change: %s", ", ".join(done))
    return done
