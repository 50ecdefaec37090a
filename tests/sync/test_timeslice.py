"""A routine pass run as a task gives its process back after its time slice, and goes on."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer
from xerosync.status import outcome_words
from xerosync.sync import jobs, outbox
from xerosync.sync.timeslice import SliceUsed, TimeSlice, check

outbox.install()

API = "/api.xro/2.0"


def test_a_slice_is_used_once_its_seconds_have_passed() -> None:
    check(None)  # no slice: never stops
    TimeSlice(60.0).check()
    with pytest.raises(SliceUsed, match=r"time slice \(5 s\) was used"):
        TimeSlice(5.0, began=time.monotonic() - 5.0).check()


@pytest.mark.integration
def test_a_long_push_and_import_go_on_slice_by_slice_to_the_end(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    roomy = {"XERO_MINUTE_LIMIT": 2000, "XERO_DAY_LIMIT": 100_000}
    env.sandbox.control.config(minute_limit=2000, day_limit=100_000)
    settings = dataclasses.replace(env.settings, **roomy)
    assert jobs.routine_pass_for(env.connection_id, settings=settings).status == "ok"
    with env.session() as session:
        session.add_all(
            Customer(connection_id=env.connection_id, name=f"Backlog {n:04}") for n in range(1200)
        )
        session.commit()
    # Every stopping point is past a slice this short: each pass does one page or one chunk.
    sliced = dataclasses.replace(settings, SYNC_PASS_SLICE_SECONDS=1e-6)
    results = []
    while len(results) < 10:
        result = jobs.routine_pass_for(env.connection_id, settings=sliced, sliced=True)
        results.append(result)
        if result.status != "continued":
            break
        assert result.retry_in == 0.0  # the task sends its continuation at once
        assert "time slice" in (result.error or "")
    statuses = [r.status for r in results]
    assert statuses[-1] == "ok" and set(statuses[:-1]) == {"continued"}, statuses
    assert len(results) >= 3  # the 1,000-record chunk, a 1,000-row page, the rest
    first = results[0].detail["counts"]
    assert first["push"]["contacts"]["created"] == 1000  # committed before it stopped
    assert "invoices" not in first  # the steps after it wait for the continuation
    created = sum(
        r.detail["counts"].get("push", {}).get("contacts", {}).get("created", 0) for r in results
    )
    assert created == 1200
    names = [c["Name"] for c in env.contacts() if str(c["Name"]).startswith("Backlog")]
    assert len(names) == len(set(names)) == 1200
    assert not [r for r in env.sandbox.control.requests(path=API) if r["status"] == 429]
    # A pass run outside a task (the CLI's `sync`) is never sliced.
    assert jobs.routine_pass_for(env.connection_id, settings=sliced).status == "ok"
    assert outcome_words("continued", results[0].error).startswith("continued in a new pass")
