"""kombu's Redis transport with one crash fixed: a worker no longer dies when Redis restarts.

kombu 5.7.0 (and earlier: celery/kombu#582, #970) restores a channel's unacknowledged
messages when the channel closes, through a Redis client built from the channel's
connection parameters. When the connection is torn down after Redis went away, kombu has
already detached the transport from its connection (`transport.client = None`) and the
connection pool, so building that client fails with `AttributeError: 'NoneType' object has
no attribute 'hostname'`. That error is not a connection error, so nothing catches it: the
worker logs "Unrecoverable error" and exits, and under `make run` (honcho) every process
stops with it.

Here the channel keeps the parameters it connected with, and uses them once the transport
has been detached. The restore then either works (the messages go back
on their queues at once, as kombu intends) or fails with Redis's own connection error,
which kombu's close already tolerates; the messages then stay in the unacked hash for the
visibility sweep. The transport is registered under kombu's `redis`/`rediss` aliases, so
broker URLs do not change.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._kept_connparams: dict[bool, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)
        self._connparams()  # kept while the transport is attached; the close may need them

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None and asynchronous in self._kept_connparams:
            return dict(self._kept_connparams[asynchronous])  # detached: what it connected with
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)
        self._kept_connparams[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Use this transport for `redis://` and `rediss://` broker URLs (idempotent)."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
