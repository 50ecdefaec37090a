"""Apply one organisation's webhook events: fetch what changed by ID, store it as the pass does.

Xero delivers at least once, may replay events for days and does not keep them in order, so
an event is only a hint of *which* records changed: each is fetched as Xero holds it now and
stored through the import's own code (`pull.load_page`/`apply_page`), with the same rules
(voids become "D", conflicts, no echo of our own writes). Applying an event twice, late, or
after a newer one changes nothing more. Invoices are fetched with `Type=="ACCREC"`: an
INVOICE event does not say whether it is a bill, and a bill is never downloaded.

The work holds the organisation's pass lease, so a webhook and a routine pass never store
the same records at once; while a pass runs, the events wait a moment and come back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from xerosync.db import get_engine, session_scope
from xerosync.models import Connection, ConnectionStatus
from xerosync.settings import Settings, get_settings
from xerosync.sync import jobs, pull, routine
from xerosync.sync import webhook_health as health
from xerosync.sync.context import OrgContext, redis_client
from xerosync.sync.jobs import JobResult
from xerosync.sync.lease import Acquired
from xerosync.webhooks.events import Event
from xerosync.xero.errors import XeroError
from xerosync.xero.spend import spending_as

log = logging.getLogger("xerosync.webhooks")

IDS_PER_CALL = 50
"""Xero refuses longer `IDs` lists (XERO_FACTS §4: 53 IDs returned 404)."""
PASS_BUSY_RETRY_SECONDS = 2.0


def _connection_for(tenant_id: str, engine: Engine) -> int | None:
    with session_scope(engine) as session:
        return session.scalar(
            select(Connection.id).where(
                Connection.tenant_id == tenant_id,
                Connection.status == ConnectionStatus.ACTIVE.value,
            )
        )


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), IDS_PER_CALL):
        yield ids[start : start + IDS_PER_CALL]


def changed_ids(events: list[Event]) -> dict[str, list[str]]:
    """Per import stream, each changed record once, in the order first seen; the streams in
    the pass's order (contacts before the invoices that may name a new one)."""
    found: dict[str, dict[str, None]] = {}
    for event in events:
        found.setdefault(event.stream, {})[event.resource_id] = None
    order = [stream.name for stream in pull.STREAMS]
    return {name: list(found[name]) for name in sorted(found, key=order.index)}


def fetch_and_apply(ctx: OrgContext, events: list[Event]) -> dict[str, pull.Counts]:
    """Fetch the changed records in as few calls as Xero allows and store them."""
    applied: dict[str, pull.Counts] = {}
    for name, ids in changed_ids(events).items():
        stream = pull.STREAMS_BY_NAME[name]
        counts: pull.Counts = dict.fromkeys(
            ("read", "created", "updated", "linked", "unchanged", "conflicts", "rejected"), 0
        )
        with spending_as("import"):
            for chunk in _chunks(ids):
                rows = ctx.client.get_all(
                    stream.resource,
                    where=stream.where,
                    include_archived=stream.include_archived or None,
                    params={"IDs": ",".join(chunk)},
                )
                loaded = pull.load_page(stream.resource, rows, counts, ctx)
                stored = pull.apply_page(ctx, stream, loaded, counts)
                pull.record_rejects(ctx, stream.resource, stored)
                counts["read"] += len(loaded)
                ctx.session.commit()
        applied[name] = counts
    return applied


def _note(ctx: OrgContext, events: list[Event], received_at: float) -> None:
    """What `status` shows: the last event received and how late it reached the CRM."""
    newest = max(events, key=lambda e: e.event_date)
    try:
        happened = datetime.fromisoformat(newest.event_date).replace(tzinfo=UTC).timestamp()
    except ValueError:
        happened = received_at
    try:
        redis_client(ctx.settings.REDIS_URL).hset(
            health.state_key(ctx.connection.id),
            mapping={
                "last_event_at": happened,
                "received_at": received_at,
                "applied_at": time.time(),
                "events": len(events),
            },
        )
    except Exception as exc:  # status loses a fact; the events are applied all the same
        log.warning("could not note webhook state: %s", exc)


def apply_events(
    tenant_id: str,
    raw_events: list[dict[str, Any]],
    received_at: float,
    *,
    task_id: str | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> JobResult:
    """One organisation's events, applied; an organisation not connected drops them."""
    settings = settings or get_settings()
    engine = engine or get_engine()
    events = [Event.from_dict(e) for e in raw_events]
    connection_id = _connection_for(tenant_id, engine)
    if connection_id is None:
        log.info(
            "%d webhook event(s) for %s dropped: not a connected organisation",
            len(events),
            tenant_id,
        )
        return JobResult("dropped", {"events": len(events)})
    try:
        with jobs._organisation(connection_id, task_id, settings, engine) as ctx:
            lease = routine.pass_lease(ctx, task_id)
            if lease.acquire() is Acquired.NO:
                return JobResult("busy", retry_in=PASS_BUSY_RETRY_SECONDS)
            with lease.kept_alive():
                applied = fetch_and_apply(ctx, events)
            _note(ctx, events, received_at)
            log.info("webhook events for %s applied: %s", ctx.connection.tenant_name, applied)
            return JobResult("ok", {"events": len(events), "applied": applied})
    except XeroError as exc:
        if exc.retryable:
            return JobResult(
                "interrupted", retry_in=exc.retry_after or 5.0, error=str(exc), cause=exc
            )
        return JobResult("failed", error=str(exc), cause=exc)
