"""The cursor's second: once Xero's own clock (`DateTimeUTC`) is safely past it, an idle pass
asks from the next second, so a bulk import's thousands of records sharing one second are not
downloaded again on every pass. Until then that second is read again (correctness first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import SyncCursor
from xerosync.sync.pull import SECOND_SETTLES_AFTER, read_since
from xerosync.sync.routine import PassResult, run_pass
from xerosync.xero import codec

pytestmark = pytest.mark.integration

SECOND = datetime(2026, 12, 2, 1, 0, 7, tzinfo=UTC)


def cursor(at: datetime | None, checked: datetime | None) -> SyncCursor:
    return SyncCursor(connection_id=1, stream="contacts", cursor=at, checked_at=checked)


def test_a_stream_never_read_asks_for_everything() -> None:
    assert read_since(cursor(None, None)) is None


def test_the_cursors_second_is_read_again_until_xeros_clock_is_safely_past_it() -> None:
    at = SECOND + timedelta(milliseconds=420)
    assert read_since(cursor(at, None)) == SECOND, "Xero's clock unknown: read it again"
    assert read_since(cursor(at, at)) == SECOND, "Xero answered within that second"
    just_short = SECOND + timedelta(seconds=1) + SECOND_SETTLES_AFTER - timedelta(milliseconds=1)
    assert read_since(cursor(at, just_short)) == SECOND


def test_a_second_safely_past_is_not_asked_for_again() -> None:
    at = SECOND + timedelta(milliseconds=420)
    past = SECOND + timedelta(seconds=1) + SECOND_SETTLES_AFTER
    assert read_since(cursor(at, past)) == SECOND + timedelta(seconds=1)
    assert read_since(cursor(at, past + timedelta(hours=3))) == SECOND + timedelta(seconds=1)


class WireBytes:
    """Bytes of the responses' bodies as they came over the wire (before any decoding)."""

    def __init__(self, session: requests.Session) -> None:
        self.total = 0
        session.hooks["response"].append(self.count)

    def count(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        _ = response.content  # read it all, so the raw stream has counted it
        self.total += int(response.raw.tell())


def measured_pass(env: XerosyncEnv) -> tuple[PassResult, int]:
    with env.session() as session:
        ctx = env.context(session)
        wire = WireBytes(ctx.client.session)
        done = run_pass(ctx)
        assert done.run.outcome == "ok", done.run.error
        return done, wire.total


def contacts_cursor(env: XerosyncEnv) -> SyncCursor:
    with env.session() as session:
        found = session.get(SyncCursor, (env.connection_id, "contacts"))
        assert found is not None and found.cursor is not None
        return found


def test_the_second_idle_pass_after_a_bulk_import_downloads_a_few_kb(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    control = env.sandbox.control
    measured_pass(env)
    control.bulk(Contacts=2000)
    imported, imported_bytes = measured_pass(env)
    assert imported.run.counts["contacts"]["created"] == 2000
    first = contacts_cursor(env)
    second = first.cursor.replace(microsecond=0)  # type: ignore[union-attr]
    sharing = sum(
        1
        for c in control.records("Contacts")
        if codec.parse_datetime(c["UpdatedDateUTC"]).replace(microsecond=0) == second  # type: ignore[union-attr]
    )
    assert sharing >= 1000, "most of the bulk import shares the cursor's second"
    assert first.checked_at is not None
    assert first.checked_at < second + timedelta(seconds=1) + SECOND_SETTLES_AFTER, (
        "the import began within the margin of the bulk's second (a very slow machine?)"
    )
    assert read_since(first) == second

    control.advance_clock((SECOND_SETTLES_AFTER + timedelta(seconds=2)).total_seconds())
    reread, reread_bytes = measured_pass(env)
    contacts = reread.run.counts["contacts"]
    assert contacts["read"] == sharing, "the second not yet safely past was read again"
    assert contacts["unchanged"] == sharing and contacts["created"] == 0
    assert read_since(contacts_cursor(env)) == second + timedelta(seconds=1)

    idle, idle_bytes = measured_pass(env)
    assert idle.run.counts["contacts"]["read"] == 0
    assert idle_bytes < 4_000, f"an idle pass downloaded {idle_bytes} bytes"
    assert reread_bytes > 20 * idle_bytes  # gzip on the wire: about 95 times here
    assert imported_bytes > reread_bytes / 2
    assert contacts_cursor(env).cursor == first.cursor, "the cursor stays the newest record"
