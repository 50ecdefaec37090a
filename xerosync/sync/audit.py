"""The audit trail: one `xero_writes` row for every write attempt sent to Xero.

The Xero client reports each attempt (`Exchange`); this turns the write attempts into rows,
in their own transaction, so they survive whatever happens to the unit of work that made
them. Which CRM records a write was for comes from `writing(kind, ids)` around the call.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from xerosync import logcontext
from xerosync.models import XeroWrite, utcnow
from xerosync.xero import codec
from xerosync.xero.client import Exchange

log = logging.getLogger(__name__)

_current: ContextVar[tuple[str, list[int]] | None] = ContextVar("xerosync_audit", default=None)

KINDS = {
    "Contacts": "contact",
    "Items": "item",
    "Invoices": "invoice",
    "CreditNotes": "credit_note",
}


@contextmanager
def writing(kind: str, local_ids: Sequence[int]) -> Iterator[None]:
    """Writes inside the block are recorded as being for these CRM records."""
    token = _current.set((kind, list(local_ids)))
    try:
        yield
    finally:
        _current.reset(token)


def _kind(path: str) -> str | None:
    resource = path.rstrip("/").split("/api.xro/2.0/", 1)[-1].split("/", 1)[0]
    return KINDS.get(resource)


def _outcome(exchange: Exchange) -> str:
    if exchange.status is None:
        return "no_answer"
    return "ok" if exchange.status < 300 else "error"


class Recorder:
    """An `on_exchange` hook turning write attempts into audit rows.

    On PostgreSQL each row is written at once, in its own transaction. SQLite allows one
    writer at a time and the unit of work usually holds that lock, so there the rows wait in
    memory until the session that made them commits or rolls back (`follow`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.immediate = engine.dialect.name != "sqlite"
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, exchange: Exchange) -> None:
        if exchange.method == "GET":
            return
        row = _row(exchange)
        if self.immediate:
            self._insert([row])
        else:
            with self._lock:
                self._rows.append(row)

    def follow(self, session: Session) -> None:
        """Write the waiting rows whenever `session` ends a transaction."""
        event.listen(session, "after_commit", self.flush)
        event.listen(session, "after_rollback", self.flush)

    def flush(self, *_args: Any) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if rows:
            self._insert(rows)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(XeroWrite), rows)
        except Exception:  # the audit must never break the sync it describes
            log.exception("could not write %d audit row(s)", len(rows))


def _row(exchange: Exchange) -> dict[str, Any]:
    current = _current.get()
    body = None
    if exchange.body is not None:  # exact numbers, as text: JSON columns take no Decimal
        body = json.loads(codec.dumps(exchange.body), parse_float=str)
    return {
        "at": utcnow(),
        "tenant_id": exchange.tenant_id or logcontext.organisation.get() or "",
        "method": exchange.method,
        "path": exchange.path[:255],
        "kind": current[0] if current else _kind(exchange.path),
        "local_ids": current[1] if current else None,
        "idempotency_key": exchange.idempotency_key,
        "request_body": body,
        "status_code": exchange.status,
        "outcome": _outcome(exchange),
        "error": str(exchange.error) if exchange.error else None,
        "duration_ms": round(exchange.duration * 1000),
        "task_id": logcontext.task_id.get(),
    }
