"""What each organisation spends of Xero, per UTC day: calls and bytes on the wire, by kind.

Xero's day limit counts calls (1,000 a day on the Starter tier) and, since March 2026, the
bytes an app downloads are billed beyond a monthly allowance (XERO_FACTS §2). Knowing where
they go (the import's pages, reads that found nothing new, pushes, invoices) is what lets an
operator shape the pass, and `xerosync status` show it.

    with spending_as("import") as spend:
        ...                                  # every call made here, by any client, is added
        if nothing_new:
            spend.kind = "idle"              # decided before the block ends

Every client built for a connection reports its calls through `recorder(redis, connection_id)`
(an `on_exchange` hook). Under `spending_as` a call is added to the innermost block's `Spend`
(contextvars: nested blocks and threads started with a copied context follow it); on exit the
block is written to Redis in one pipeline. A call outside any block is written at once as
"other". The ledger is a hash per connection and day, `xerosync:spend:{connection_id}:{day}`,
fields `{kind}:calls`, `{kind}:bytes_in`, `{kind}:bytes_out`, kept a few days.

A ledger is bookkeeping, never a reason to fail a call: Redis errors are logged and dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from xerosync.xero.client import Exchange

log = logging.getLogger(__name__)

KINDS = ("import", "idle", "push", "invoices", "other")
PREFIX = "xerosync:spend"
KEEP_SECONDS = 4 * 86400
"""A day's ledger is kept four days: today and the last few for status, then it lapses."""


@dataclass(frozen=True)
class KindSpend:
    """One kind's spend on one day: calls, bytes received (in) and sent (out)."""

    calls: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


def ledger_key(connection_id: object, day: str) -> str:
    return f"{PREFIX}:{connection_id}:{day}"


def utc_day(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).astimezone(UTC).date().isoformat()


class Spend:
    """What one `spending_as` block has spent so far (totals, and per connection and day
    for the ledger). Thread-safe: a push sends batches from several threads."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.calls = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, object, str], tuple[redis.Redis, list[int]]] = {}

    @property
    def kind(self) -> str:
        return self._kind

    @kind.setter
    def kind(self, value: str) -> None:
        if value not in KINDS:
            raise ValueError(f"spend kind must be one of {KINDS}, not {value!r}")
        self._kind = value

    def add(self, client: redis.Redis, connection_id: object, exchange: Exchange) -> None:
        day = utc_day()
        with self._lock:
            self.calls += 1
            self.bytes_sent += exchange.bytes_sent
            self.bytes_received += exchange.bytes_received
            key = (id(client), connection_id, day)
            _, counts = self._entries.setdefault(key, (client, [0, 0, 0]))
            counts[0] += 1
            counts[1] += exchange.bytes_received
            counts[2] += exchange.bytes_sent

    def flush(self) -> None:
        """Write what was spent under this kind (one pipeline per Redis), and start afresh."""
        with self._lock:
            entries, self._entries = self._entries, {}
            kind = self.kind
        by_client: dict[int, tuple[redis.Redis, list[tuple[object, str, list[int]]]]] = {}
        for (client_id, connection_id, day), (client, counts) in entries.items():
            by_client.setdefault(client_id, (client, []))[1].append((connection_id, day, counts))
        for client, rows in by_client.values():
            _write(client, kind, rows)


_current: ContextVar[Spend | None] = ContextVar("xerosync_spend", default=None)


@contextmanager
def spending_as(kind: str) -> Iterator[Spend]:
    """Every call made in this block (any client, this context) is spent as `kind`; the caller
    may change `spend.kind` before the block ends. Written to the ledger on exit."""
    spend = Spend(kind)
    token = _current.set(spend)
    try:
        yield spend
    finally:
        _current.reset(token)
        spend.flush()


def recorder(client: redis.Redis, connection_id: object) -> Callable[[Exchange], None]:
    """The `on_exchange` hook that puts a connection's calls on its ledger."""

    def record(exchange: Exchange) -> None:
        try:
            spend = _current.get()
            if spend is not None:
                spend.add(client, connection_id, exchange)
            else:
                counts = [1, exchange.bytes_received, exchange.bytes_sent]
                _write(client, "other", [(connection_id, utc_day(), counts)])
        except Exception:  # bookkeeping must never break the call it records
            log.exception("spend ledger: could not record a call of connection %s", connection_id)

    return record


def _write(client: redis.Redis, kind: str, rows: list[tuple[object, str, list[int]]]) -> None:
    try:
        pipe = client.pipeline(transaction=False)
        for connection_id, day, (calls, bytes_in, bytes_out) in rows:
            key = ledger_key(connection_id, day)
            pipe.hincrby(key, f"{kind}:calls", calls)
            pipe.hincrby(key, f"{kind}:bytes_in", bytes_in)
            pipe.hincrby(key, f"{kind}:bytes_out", bytes_out)
            pipe.expire(key, KEEP_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:  # Redis away (a restart): the day's figures miss these calls
        log.warning("spend ledger: could not write %s spend to Redis: %s", kind, exc)


def spend_today(
    client: redis.Redis, connection_id: object, *, day: str | None = None
) -> dict[str, KindSpend]:
    """Today's (UTC) spend of one connection, every kind present (zeros where none)."""
    raw: Mapping[Any, Any] = client.hgetall(ledger_key(connection_id, day or utc_day()))
    fields = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
    return {
        kind: KindSpend(
            calls=fields.get(f"{kind}:calls", 0),
            bytes_in=fields.get(f"{kind}:bytes_in", 0),
            bytes_out=fields.get(f"{kind}:bytes_out", 0),
        )
        for kind in KINDS
    }


__all__ = ["KINDS", "KindSpend", "Spend", "recorder", "spend_today", "spending_as"]
