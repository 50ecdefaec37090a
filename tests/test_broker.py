"""The Redis transport's fix, on a real Redis: closing a channel whose transport kombu has
already detached (as it does when Redis goes away) restores its unacknowledged message
instead of raising `'NoneType' object has no attribute 'hostname'` (and the worker exiting)."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection, Exchange, Queue
from kombu.transport import redis as kombu_redis

from xerosync import broker

QUEUE = Queue("xerosync-test-restore", Exchange("xerosync-test-restore"), "restore")


def _deliver_one(connection: Connection) -> None:
    """One message delivered and not acknowledged, as a worker holds a task (late acks)."""
    with connection.Producer() as producer:
        producer.publish({"n": 1}, exchange=QUEUE.exchange, routing_key="restore", declare=[QUEUE])
    message = QUEUE(connection.default_channel).get(no_ack=False)
    assert message is not None and message.payload == {"n": 1}


def test_a_detached_channel_restores_its_unacked_message(redis_url: str) -> None:
    broker.install()
    with Connection(redis_url) as connection:
        assert isinstance(connection.transport, broker.Transport)
        _deliver_one(connection)
        channel = connection.default_channel
        connection.transport.client = None  # what kombu does as it tears the connection down
        channel.close()

    with Connection(redis_url) as connection:
        again = QUEUE(connection.default_channel).get(no_ack=True)
        assert again is not None and again.payload == {"n": 1}
    assert redis.Redis.from_url(redis_url).hlen("unacked") == 0


def test_stock_kombu_still_has_the_crash(redis_url: str) -> None:
    """When kombu fixes it, this says so: `xerosync/broker.py` can then go."""
    with Connection(redis_url, transport=kombu_redis.Transport) as connection:
        _deliver_one(connection)
        channel = connection.default_channel
        connection.transport.client = None
        try:
            channel.close()
        except AttributeError as exc:
            assert "hostname" in str(exc)
        else:
            pytest.skip("kombu no longer crashes here: drop xerosync/broker.py")
