"""Whether Xero's webhooks can be trusted to bring an organisation's changes, and so whether
the routine pass may read the streams they cover (contacts, invoices, credit notes) less
often. Items and stock have no webhooks and are read every pass.

"Healthy" means the receiver is running (it writes a heartbeat to Redis) and the operator
asked for it (WEBHOOK_COVERED_POLL_SECONDS above 0). A receiver that is down stops the
heartbeat within a minute and the pass reads every stream again; Xero keeps retrying the
deliveries it could not make for a day, so events are late, not lost. Even when healthy, the
covered streams are still read every WEBHOOK_COVERED_POLL_SECONDS, as the net for an event
Xero never sent.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger("xerosync.webhooks")

COVERED_STREAMS = frozenset({"contacts", "invoices", "credit_notes"})
RECEIVER_KEY = "xerosync:webhooks:receiver"
HEARTBEAT_SECONDS = 15.0
HEARTBEAT_TTL_SECONDS = 60


def state_key(connection_id: int) -> str:
    """Per organisation: the last event applied, and when each covered stream was read."""
    return f"xerosync:webhooks:{connection_id}"


def heartbeat(client: redis.Redis) -> None:
    client.set(RECEIVER_KEY, time.time(), ex=HEARTBEAT_TTL_SECONDS)


def keep_beating(client: redis.Redis, stop: threading.Event) -> threading.Thread:
    """The receiver's heartbeat, in a daemon thread until `stop` is set."""

    def run() -> None:
        while True:
            try:
                heartbeat(client)
            except redis.RedisError as exc:
                log.warning("webhook receiver heartbeat not written: %s", exc)
            if stop.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=run, name="webhooks-heartbeat", daemon=True)
    thread.start()
    return thread


def receiver_seen_at(client: redis.Redis) -> float | None:
    raw = client.get(RECEIVER_KEY)
    return float(raw) if raw is not None else None


def may_skip(
    client: redis.Redis, connection_id: int, stream: str, every: float, now: float | None = None
) -> bool:
    """True when the pass may leave `stream` to the webhooks this time."""
    if every <= 0 or stream not in COVERED_STREAMS or receiver_seen_at(client) is None:
        return False
    raw = client.hget(state_key(connection_id), f"read:{stream}")
    at = time.time() if now is None else now
    return raw is not None and at - float(raw) < every


def note_read(client: redis.Redis, connection_id: int, stream: str) -> None:
    client.hset(state_key(connection_id), f"read:{stream}", time.time())
