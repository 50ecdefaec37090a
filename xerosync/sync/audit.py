"""The audit trail: one `xero_writes` row for every write attempt sent to Xero.

The Xero client reports each attempt (`Exchange`); this turns the write attempts into rows,
in their own short transaction so they survive whatever happens to the unit of work that
made them. Which CRM records a write was for comes from `writing(kind, ids)` around the call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Engine, insert

from xerosync import logcontext
from xerosync.models import XeroWrite
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


def recorder(engine: Engine) -> Callable[[Exchange], None]:
    """An `on_exchange` hook writing an audit row per write attempt."""

    def record(exchange: Exchange) -> None:
        if exchange.method == "GET":
            return
        current = _current.get()
        body = None
        if exchange.body is not None:  # exact numbers, as text: JSON columns take no Decimal
            body = json.loads(codec.dumps(exchange.body), parse_float=str)
        try:
            with engine.begin() as connection:
                connection.execute(
                    insert(XeroWrite).values(
                        tenant_id=exchange.tenant_id or logcontext.organisation.get() or "",
                        method=exchange.method,
                        path=exchange.path[:255],
                        kind=current[0] if current else _kind(exchange.path),
                        local_ids=current[1] if current else None,
                        idempotency_key=exchange.idempotency_key,
                        request_body=body,
                        status_code=exchange.status,
                        outcome=_outcome(exchange),
                        error=str(exchange.error) if exchange.error else None,
                        duration_ms=round(exchange.duration * 1000),
                        task_id=logcontext.task_id.get(),
                    )
                )
        except Exception:  # the audit must never break the sync it describes
            log.exception("could not write the audit row for %s %s", exchange.method, exchange.path)

    return record
