"""When healthy webhooks let the pass read the streams they cover less often, and when not."""

from __future__ import annotations

import dataclasses

import fakeredis
import pytest
import redis

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.sync import jobs
from xerosync.sync import webhook_health as health


def test_a_covered_stream_is_skipped_only_with_a_receiver_alive_and_a_recent_read(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    assert not health.may_skip(fake_redis, 1, "contacts", 3600)  # never read, no receiver
    health.note_read(fake_redis, 1, "contacts")
    assert not health.may_skip(fake_redis, 1, "contacts", 3600)  # no receiver
    health.heartbeat(fake_redis)
    assert health.may_skip(fake_redis, 1, "contacts", 3600)
    assert not health.may_skip(fake_redis, 1, "contacts", 0), "0 turns it off"
    assert not health.may_skip(fake_redis, 1, "items", 3600), "items have no webhooks"
    assert not health.may_skip(fake_redis, 2, "contacts", 3600), "per organisation"
    later = float(fake_redis.hget(health.state_key(1), "read:contacts") or 0) + 3601
    assert not health.may_skip(fake_redis, 1, "contacts", 3600, now=later)


@pytest.mark.integration
def test_with_the_receiver_running_the_pass_reads_items_and_leaves_the_rest(
    xerosync_env: XerosyncEnv, real_redis: redis.Redis
) -> None:
    env = xerosync_env
    settings = dataclasses.replace(env.settings, WEBHOOK_COVERED_POLL_SECONDS=3600)
    assert jobs.routine_pass_for(env.connection_id, settings=settings).status == "ok"
    health.heartbeat(real_redis)
    env.sandbox.control.clear_requests()

    result = jobs.routine_pass_for(env.connection_id, settings=settings)

    assert result.status == "ok"
    assert sorted(result.detail["counts"]["left_to_webhooks"]) == [
        "contacts", "credit_notes", "invoices"
    ]  # fmt: skip
    reads = {r["path"].rsplit("/", 1)[-1] for r in env.sandbox.control.requests(method="GET")}
    assert reads == {"Items"}

    real_redis.delete(health.RECEIVER_KEY)  # the receiver stopped
    env.sandbox.control.clear_requests()
    jobs.routine_pass_for(env.connection_id, settings=settings)
    reads = {r["path"].rsplit("/", 1)[-1] for r in env.sandbox.control.requests(method="GET")}
    assert {"Contacts", "Invoices", "CreditNotes", "Items"} <= reads
