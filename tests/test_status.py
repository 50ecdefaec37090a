"""`xerosync status` tells a working service from a stopped one, and shows what went wrong.

Healthy: a real in-process worker on both queues and a beat that ticked (its first tick sent a
pass the worker ran). Stopped: no worker answers, no beat heartbeat (or an old one). With
errors: records Xero rejected and records deferred, per kind, with zeros shown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import XerosyncEnv
from xerosync.beat import BEAT_HEARTBEAT_KEY, Heartbeat, Scheduler
from xerosync.cli import main
from xerosync.models import Customer, LinkKind, LinkStatus, SyncRun
from xerosync.sync import outbox

pytestmark = pytest.mark.integration
outbox.install()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


WAIT = "3"
"""Seconds status waits for workers' answers: generous, a busy machine answers slowly."""
NO_WORKER_WAIT = "0.3"
"""Where no worker runs, status waits this long for answers nobody sends."""


def status_json(
    capsys: pytest.CaptureFixture[str], *argv: str, wait: str = NO_WORKER_WAIT
) -> dict[str, Any]:
    code, out, err = run(capsys, "status", "--json", "--wait", wait, *argv)
    assert code == 0, err
    return dict(json.loads(out))


def finished_passes(env: XerosyncEnv) -> int:
    with env.session() as session:
        query = select(func.count()).select_from(SyncRun).where(SyncRun.finished_at.is_not(None))
        return int(session.scalar(query) or 0)


def test_status_of_a_healthy_service(
    xerosync_env: XerosyncEnv,
    celery_app: Celery,
    celery_worker: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = xerosync_env
    beat = Scheduler(celery_app, schedule_filename=str(tmp_path / "beat-schedule"))
    try:
        beat.tick()  # beat's start: a heartbeat, and the first routine pass sent to the worker
        eventually(lambda: finished_passes(env) == 1, timeout=60)
        healthy_status(capsys)
    finally:
        beat.close()


def healthy_status(capsys: pytest.CaptureFixture[str]) -> None:

    report = status_json(capsys, wait=WAIT)
    service = report["service"]
    for queue in ("invoices", "sync"):
        assert service["workers"]["queues"][queue]["workers"], queue
        assert service["workers"]["queues"][queue]["waiting"] == 0
    assert "inspect" in service["workers"]["how"]
    assert service["beat"]["running"] is True
    assert service["beat"]["next_pass_at"] > service["beat"]["last_tick_at"]
    [org] = report["organisations"]
    last = org["last_pass"]
    assert last["outcome"] == "ok" and last["outcome_words"] == "ok"
    assert last["duration_seconds"] > 0
    datetime.fromisoformat(last["finished_at"])  # ISO in JSON
    assert "contacts imported" in last["summary"]
    assert org["records"] == {
        kind: {"pending": 0, "deferred": 0, "error": 0}
        for kind in ("customers", "products", "invoices")
    }
    day = org["budget"]["day"]
    assert day["used"] >= 4 and day["routine_left"] < day["limit"]  # the pass's four reads
    assert org["spend_today"]["import"]["calls"] >= 4
    assert org["spend_today"]["import"]["bytes_in"] > 0
    assert org["spend_today"]["invoices"]["calls"] == 0
    plan = org["next_pass"]
    assert plan["at"] is not None and plan["interval_seconds"] > 0  # beat runs: a tick is set

    code, out, _ = run(capsys, "status", "--wait", WAIT)
    assert code == 0
    worker = service["workers"]["queues"]["invoices"]["workers"][0]
    assert f"invoices: 1 worker ({worker}), answered just now" in out
    assert "sync: 1 worker" in out
    assert "beat: last tick" in out and "next routine pass in" in out
    assert "last pass: finished" in out and " ago in " in out and ": ok, " in out
    assert "contacts imported" in out
    assert "customers: 0 pending, 0 deferred, 0 in error" in out
    assert "products: 0 pending, 0 deferred, 0 in error" in out
    assert "invoices: 0 pending, 0 deferred, 0 in error" in out
    assert "budget left:" in out and "left for routine work" in out
    assert "spent today: import " in out and "next pass: in " in out
    assert "+00:00" not in out  # times in words, not raw timestamps


def test_status_of_a_stopped_service(
    xerosync_env: XerosyncEnv, real_redis: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    report = status_json(capsys)
    for queue in ("invoices", "sync"):
        assert report["service"]["workers"]["queues"][queue]["workers"] == []
    assert report["service"]["beat"]["running"] is False
    assert report["service"]["beat"]["last_tick_at"] is None
    [org] = report["organisations"]
    assert org["last_pass"] is None

    out = run(capsys, "status", "--wait", "0.5")[1]
    assert "invoices: no worker consuming it" in out and "sync: no worker consuming it" in out
    assert "beat: not running (no tick recorded)" in out
    assert "last pass: never" in out

    # A beat that stopped ten minutes ago left its last heartbeat behind.
    seconds, _ = real_redis.time()
    now = datetime.fromtimestamp(seconds, UTC)
    old = Heartbeat(now - timedelta(minutes=10), now - timedelta(hours=1), None, "gone", 1)
    real_redis.set(BEAT_HEARTBEAT_KEY, old.to_json())
    out = run(capsys, "status", "--wait", "0.5")[1]
    assert "beat: not running (no tick for 10 min)" in out
    beat = status_json(capsys)["service"]["beat"]
    assert beat["running"] is False and 590 < beat["age_seconds"] < 700


def test_status_with_rejected_and_deferred_records(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    with env.session() as session:
        session.add_all(
            [
                Customer(connection_id=env.connection_id, name="Odd Money", default_currency="QQQ"),
                Customer(connection_id=env.connection_id, name="Later Ltd"),
            ]
        )
        session.commit()
    assert run(capsys, "sync")[0] == 0  # Xero rejects QQQ; Later Ltd is pushed
    with env.session() as session:
        later = session.scalars(select(Customer).where(Customer.name == "Later Ltd")).one()
        link = outbox.get_link(session, env.connection_id, LinkKind.CONTACT, later.id)
        assert link is not None
        link.status = LinkStatus.DEFERRED.value
        link.last_error = "rate limit for the day: waits for tomorrow's budget"
        session.add(Customer(connection_id=env.connection_id, name="Not Yet Pushed"))
        session.commit()

    [org] = status_json(capsys, "--org", "Demo Company")["organisations"]
    assert org["records"]["customers"] == {"pending": 1, "deferred": 1, "error": 1}
    assert org["records"]["products"] == {"pending": 0, "deferred": 0, "error": 0}
    assert org["last_pass"]["outcome"] == "ok"
    assert "1 contact rejected by Xero" in org["last_pass"]["summary"]

    out = run(capsys, "status", "--org", "Demo Company")[1]
    assert "customers: 1 pending, 1 deferred, 1 in error" in out
    assert "invoices: 0 pending, 0 deferred, 0 in error" in out


def test_status_org_matches_as_sync_does(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    report = status_json(capsys)
    [org] = report["organisations"]
    for ref in (org["tenant_id"], org["name"], str(org["id"])):
        assert [o["id"] for o in status_json(capsys, "--org", ref)["organisations"]] == [org["id"]]
    code, _, err = run(capsys, "status", "--org", "Nobody Ltd")
    assert code == 2 and err.strip() == (
        "xerosync status: no connected organisation matches 'Nobody Ltd'"
    )


def test_a_pass_the_rate_limit_interrupted_is_said_in_words(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    started = datetime.now(UTC) - timedelta(minutes=20, seconds=4.2)
    with env.session() as session:
        session.add(
            SyncRun(
                connection_id=env.connection_id,
                started_at=started,
                finished_at=started + timedelta(seconds=4.2),
                outcome="interrupted",
                counts={"contacts": {"read": 12, "created": 12}},
                error="rate budget for routine work exhausted (day); come back in 3600.000s",
            )
        )
        session.commit()
    [org] = status_json(capsys)["organisations"]
    last = org["last_pass"]
    assert last["duration_seconds"] == pytest.approx(4.2)
    assert last["outcome_words"].startswith("interrupted by the rate limit")
    out = run(capsys, "status", "--wait", "0.5")[1]
    assert (
        "last pass: finished 20 min ago in 4.2 s: interrupted by the rate limit; the next pass "
        "resumes where it stopped, 12 contacts imported"
    ) in out
