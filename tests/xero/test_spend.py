"""The spend ledger: calls and bytes per connection, day and kind, from every client's calls."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

import pytest
import redis

from tests.fixtures.xerosync import XerosyncEnv
from tests.xero.fakes import FakeSession, Sent
from xerosync.xero import spend
from xerosync.xero.client import XeroClient
from xerosync.xero.spend import KINDS, KindSpend, spend_today, spending_as

API = "http://xero.test/api.xro/2.0"
BODY = b'{"Currencies": [{"Code": "NZD"}]}'


class Tokens:
    def access_token(self) -> str:
        return "tok"

    def after_unauthorized(self, rejected_access_token: str) -> str:
        return "tok2"


def answer(sent: Sent) -> tuple[int, Any, dict[str, str]]:
    if sent.body is not None:
        return 200, {"Items": [{"Code": "A", "StatusAttributeString": "OK"}]}, {}
    return 200, BODY.decode(), {}


def client(redis_client: redis.Redis, connection_id: object) -> XeroClient:
    return XeroClient(
        api_url=API,
        tenant_id=f"tenant-{connection_id}",
        tokens=Tokens(),
        budget=None,
        session=FakeSession(answer),
        on_exchange=spend.recorder(redis_client, connection_id),
    )


def test_calls_under_a_kind_are_written_on_exit(real_redis: redis.Redis) -> None:
    xero = client(real_redis, 7)
    with spending_as("import") as spent:
        xero.get_all("Currencies")
        xero.get_all("Currencies")
        assert spend_today(real_redis, 7)["import"] == KindSpend()  # not yet: one write at exit
        assert (spent.calls, spent.bytes_received, spent.bytes_sent) == (2, 2 * len(BODY), 0)
    today = spend_today(real_redis, 7)
    assert set(today) == set(KINDS)
    assert today["import"] == KindSpend(calls=2, bytes_in=2 * len(BODY), bytes_out=0)
    assert all(today[k] == KindSpend() for k in KINDS if k != "import")
    ttl = real_redis.ttl(spend.ledger_key(7, spend.utc_day()))
    assert 3 * 86400 < ttl <= 4 * 86400


def test_the_kind_can_change_before_the_block_ends(real_redis: redis.Redis) -> None:
    xero = client(real_redis, 7)
    with spending_as("import") as spent:
        xero.get_all("Currencies")
        spent.kind = "idle"  # the stream read found nothing new
    today = spend_today(real_redis, 7)
    assert today["idle"].calls == 1 and today["import"].calls == 0
    with pytest.raises(ValueError), spending_as("import") as spent:
        spent.kind = "pushes"


def test_nested_blocks_the_innermost_wins_and_writes_count_bytes_out(
    real_redis: redis.Redis,
) -> None:
    xero = client(real_redis, 7)
    with spending_as("import") as outer:
        xero.get_all("Currencies")
        with spending_as("push") as inner:
            xero.save("Items", [{"Code": "A"}])
        xero.get_all("Currencies")
    assert outer.calls == 2 and inner.calls == 1
    today = spend_today(real_redis, 7)
    assert today["import"].calls == 2 and today["push"].calls == 1
    assert today["push"].bytes_out == len(b'{"Items": [{"Code": "A"}]}')


def test_calls_outside_any_block_are_other_at_once(real_redis: redis.Redis) -> None:
    client(real_redis, 7).get_all("Currencies")
    assert spend_today(real_redis, 7)["other"] == KindSpend(1, len(BODY), 0)


def test_each_connection_has_its_own_ledger(real_redis: redis.Redis) -> None:
    with spending_as("invoices"):
        client(real_redis, 1).get_all("Currencies")
        client(real_redis, 2).get_all("Currencies")
        client(real_redis, 2).get_all("Currencies")
    assert spend_today(real_redis, 1)["invoices"].calls == 1
    assert spend_today(real_redis, 2)["invoices"].calls == 2


def test_threads_started_with_the_context_spend_in_its_block(real_redis: redis.Redis) -> None:
    xero = client(real_redis, 7)
    with spending_as("push") as spent:
        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(xero.get_all, "Items"))
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert spent.calls == 8 and spend_today(real_redis, 7)["push"].calls == 8


def test_a_redis_failure_is_logged_and_never_breaks_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    xero = client(gone, 7)
    with caplog.at_level(logging.WARNING, logger="xerosync.xero.spend"):
        assert xero.get_all("Currencies") == [{"Code": "NZD"}]
        with spending_as("import"):
            assert xero.get_all("Currencies") == [{"Code": "NZD"}]
    said = [r for r in caplog.records if "spend ledger" in r.getMessage()]
    assert len(said) == 2
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in said), "one line each"


@pytest.mark.integration
def test_a_connections_client_puts_its_calls_on_the_ledger(xerosync_env: XerosyncEnv) -> None:
    """`sync.context.build_client` wires the ledger for the connection (through `both`)."""
    redis_client = redis.Redis.from_url(xerosync_env.settings.REDIS_URL)
    with xerosync_env.session() as session:
        ctx = xerosync_env.context(session)
        with spending_as("import"):
            ctx.client.get_all("Currencies")
    today = spend_today(redis_client, xerosync_env.connection_id)
    assert today["import"].calls == 1 and today["import"].bytes_in > 0
