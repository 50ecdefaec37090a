"""What `xerosync status` and `xerosync errors` report, gathered without calling Xero."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import redis
from kombu import Connection as Connection_
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import celeryconfig
from xerosync.models import (
    Connection,
    ConnectionStatus,
    ContactMerge,
    Customer,
    ImportReject,
    LinkKind,
    LinkStatus,
    Order,
    Product,
    SyncRun,
    VanishedLink,
    XeroLink,
)
from xerosync.settings import Settings
from xerosync.sync import cadence
from xerosync.xero.budget import RateBudget
from xerosync.xero.factory import budget_limits
from xerosync.xero.spend import spend_today

RECORD_MODELS: dict[str, type[Customer] | type[Product] | type[Order]] = {
    LinkKind.CONTACT.value: Customer,
    LinkKind.ITEM.value: Product,
    LinkKind.INVOICE.value: Order,
}
RECORD_NAMES = {
    LinkKind.CONTACT.value: "customers",
    LinkKind.ITEM.value: "products",
    LinkKind.INVOICE.value: "invoices",
}
"""Records per kind, in the CRM's words (a contact link is a customer's)."""
RECORD_STATES = (LinkStatus.PENDING.value, LinkStatus.DEFERRED.value, LinkStatus.ERROR.value)
QUEUES = (celeryconfig.INVOICE_QUEUE, celeryconfig.SYNC_QUEUE)
INSPECT_TIMEOUT = 1.0
"""Seconds `status` waits for workers to answer Celery's inspect broadcast."""
BROKER_RETRIES = 1
"""Connection retries before status says the broker cannot be reached."""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def last_run(session: Session, connection_id: int, now: datetime) -> dict[str, Any] | None:
    """The organisation's latest pass: when, how long, how it ended, in words too."""
    run = session.scalars(
        select(SyncRun)
        .where(SyncRun.connection_id == connection_id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
        .limit(1)
    ).first()
    if run is None:
        return None
    started = _aware(run.started_at)
    finished = _aware(run.finished_at) if run.finished_at else None
    return {
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_seconds": (round((finished - started).total_seconds(), 3) if finished else None),
        "running_for_seconds": (
            None if finished else round(max(0.0, (now - started).total_seconds()), 3)
        ),
        "outcome": run.outcome,
        "outcome_words": outcome_words(run.outcome, run.error),
        "summary": pass_summary(run.counts or {}),
        "counts": run.counts or {},
        "error": run.error,
    }


def outcome_words(outcome: str, error: str | None) -> str:
    """The outcome as an operator reads it: ok, interrupted by the rate limit, failed: why."""
    if outcome == "interrupted":
        text = (error or "").lower()
        if "rate" in text or "429" in text or "limit" in text:
            return "interrupted by the rate limit; the next pass resumes where it stopped"
        return f"interrupted ({error}); the next pass resumes where it stopped"
    if outcome == "continued":
        return "continued in a new pass after its time slice (a long import or push)"
    if outcome == "failed":
        return f"failed: {error}" if error else "failed"
    if outcome == "running":
        return "running"
    return outcome


_IMPORT_WORDS = {
    "created": "imported",
    "updated": "updated",
    "conflicts": "in conflict",
    "rejected": "set aside",
}
_PUSH_WORDS = {"created": "pushed", "updated": "pushed", "linked": "linked",
               "rejected": "rejected by Xero"}  # fmt: skip
_ORDER_WORDS = {
    "confirmed_orders": {"invoiced": "orders invoiced", "failed": "orders not invoiced"},
    "voided_orders": {"deleted": "voided drafts deleted", "rejected": "voided drafts refused"},
}


def _words(count: int, noun: str) -> str:
    """`2 contacts`, `1 contact` (nouns are the plural stream names)."""
    if count == 1 and noun.endswith("s"):
        noun = noun[:-1]
    return f"{count} {noun}"


def pass_summary(counts: dict[str, Any]) -> str:
    """A pass's counts in words: "12 contacts imported, 1 item updated, 2 contacts pushed"."""
    parts: list[str] = []
    for stream, value in counts.items():
        if not isinstance(value, dict):
            continue
        if stream == "push":
            for kind, result in value.items():
                tally: dict[str, int] = {}
                for key, word in _PUSH_WORDS.items():
                    tally[word] = tally.get(word, 0) + _number(result, key)
                parts += [f"{_words(n, kind)} {word}" for word, n in tally.items() if n]
        elif stream in _ORDER_WORDS:
            parts += [
                f"{_number(value, key)} {words}" for key, words in _ORDER_WORDS[stream].items()
                if _number(value, key)
            ]  # fmt: skip
        else:
            noun = stream.replace("_", " ")
            parts += [
                f"{_words(_number(value, key), noun)} {word}" for key, word in _IMPORT_WORDS.items()
                if _number(value, key)
            ]  # fmt: skip
    return ", ".join(parts) or "nothing changed"


def _number(result: Any, key: str) -> int:
    if isinstance(result, dict):
        value = result.get(key)
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return 0


def link_counts(session: Session, connection_id: int) -> dict[str, dict[str, int]]:
    """{customers|products|invoices: {pending, deferred, error}}, zeros included."""
    rows = session.execute(
        select(XeroLink.kind, XeroLink.status, func.count())
        .where(XeroLink.connection_id == connection_id, XeroLink.status.in_(RECORD_STATES))
        .group_by(XeroLink.kind, XeroLink.status)
    )
    counts = {name: dict.fromkeys(RECORD_STATES, 0) for name in RECORD_NAMES.values()}
    for kind, state, count in rows:
        counts[RECORD_NAMES.get(kind, kind)][state] = int(count)
    return counts


def budget_left(settings: Settings, client: redis.Redis, tenant_id: str) -> dict[str, Any]:
    """This minute's and today's calls left (ours and Xero's word, the smaller), and the
    day's split between routine work and the share kept for invoices when it is known."""
    limits = budget_limits(settings)
    budget = RateBudget(client, limits)
    snap = budget.snapshot(tenant_id)
    minute_left = limits.minute - snap["minute_used"]
    day_left = limits.day - snap["day_used"]
    if snap["xero_minute_remaining"] is not None:
        minute_left = min(minute_left, snap["xero_minute_remaining"])
    if snap["xero_day_remaining"] is not None:
        day_left = min(day_left, snap["xero_day_remaining"])
    return {
        "minute_left": max(0, minute_left),
        "day_left": max(0, day_left),
        "in_flight": snap["in_flight"],
        "closed_for_seconds": snap["closed_for"],
        "day": day_split(budget, tenant_id),
    }


def day_split(budget: RateBudget, tenant_id: str) -> dict[str, Any]:
    """`RateBudget.day_left`: the day's limit, calls used, what routine work and invoices can
    still get, and when Xero's day resets (None until a daily 429 says)."""
    return dict(_plain(budget.day_left(tenant_id)))


def spend(client: redis.Redis, connection_id: int) -> dict[str, Any]:
    """Today's calls and bytes per kind of work (`xero.spend`), zeros included."""
    return {kind: _plain(value) for kind, value in spend_today(client, connection_id).items()}


def next_pass(
    session: Session,
    settings: Settings,
    client: redis.Redis,
    conn: Connection,
    beat_next: datetime | None,
) -> dict[str, Any]:
    """When the organisation's next routine pass runs, by its cadence and beat's ticks.

    `due_at`: when the cadence wants it (None: nothing planned, due now); `at`: the beat tick
    that will start it (None while beat is not running); `work_waiting`: the outbox holds work,
    so the next tick runs it whatever the cadence; `interval_seconds` and `idle_passes`: the
    back-off of an idle organisation."""
    base = float(settings.SYNC_INTERVAL_SECONDS)
    due = cadence.next_pass_due(client, conn.id)
    work_waiting = cadence.has_pending_work(session, conn.id)
    return {
        "due_at": _iso(due),
        "at": _iso(_tick_for(None if work_waiting else due, beat_next, base)),
        "work_waiting": work_waiting,
        "interval_seconds": cadence.current_interval(client, conn.id, base),
        "idle_passes": cadence.idle_passes(client, conn.id),
    }


def _tick_for(due: datetime | None, beat_next: datetime | None, base: float) -> datetime | None:
    """The first beat tick (every `base` seconds from `beat_next`) at which a pass due at
    `due` starts: the fan-out takes one due within half a tick."""
    if beat_next is None:
        return None
    if due is None:
        return beat_next
    behind = (due - beat_next).total_seconds() - base / 2
    ticks = max(0, math.ceil(behind / base)) if base > 0 else 0
    return beat_next + timedelta(seconds=ticks * base)


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, datetimes as ISO, for JSON and text alike."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return _iso(value)
    return value


def queue_depths(conn: Connection_) -> dict[str, int]:
    """Tasks waiting in each queue, asked of the broker through kombu (Redis or RabbitMQ)."""
    depths: dict[str, int] = {}
    for queue in QUEUES:
        channel = conn.channel()
        try:
            depths[queue] = int(channel.queue_declare(queue, passive=True).message_count)
        except conn.channel_errors:
            depths[queue] = 0  # never declared: nothing was ever sent to it
        finally:
            channel.close()
    return depths


def queue_consumers(conn: Connection_, timeout: float = INSPECT_TIMEOUT) -> dict[str, list[str]]:
    """{queue: [worker names]} from Celery's inspect broadcast: the workers that answered
    within `timeout` seconds, with the queues each consumes."""
    from xerosync.app import app

    replies = app.control.inspect(timeout=timeout, connection=conn).active_queues() or {}
    consumers: dict[str, list[str]] = {q: [] for q in QUEUES}
    for worker, queues in sorted(replies.items()):
        for queue in queues or []:
            consumers.setdefault(str(queue.get("name")), []).append(worker)
    return consumers


def service_facts(
    client: redis.Redis,
    now: datetime,
    *,
    timeout: float = INSPECT_TIMEOUT,
) -> dict[str, Any]:
    """Who consumes each queue (workers), whether beat ticks, and what waits in the queues.

    One broker connection, tried twice: a broker that is down fails status in a second or
    two (kombu's own default retries for much longer)."""
    from xerosync.app import app

    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=BROKER_RETRIES)
        started = time.monotonic()
        consumers = queue_consumers(conn, timeout)
        asked = round(time.monotonic() - started, 3)
        depths = queue_depths(conn)
    queues = {
        name: {"workers": consumers.get(name, []), "waiting": depths.get(name, 0)}
        for name in QUEUES
    }
    return {
        "workers": {
            "how": f"asked with Celery inspect active_queues, waited {timeout:g} s",
            "asked_at": _iso(now),
            "answered_within_seconds": asked,
            "queues": queues,
        },
        "beat": beat_facts(client, now),
    }


def beat_facts(client: redis.Redis, now: datetime) -> dict[str, Any]:
    """Beat's last heartbeat and whether it is recent enough for beat to be running."""
    from xerosync.beat import BEAT_HEARTBEAT_KEY, BEAT_STALE_SECONDS, read_heartbeat

    beat = read_heartbeat(client)
    how = f"heartbeat in Redis ({BEAT_HEARTBEAT_KEY}), written on every tick"
    if beat is None:
        return {"how": how, "running": False, "last_tick_at": None, "age_seconds": None,
                "next_pass_at": None, "hostname": None, "pid": None}  # fmt: skip
    age = max(0.0, (now - beat.at).total_seconds())
    return {
        "how": how,
        "running": age <= BEAT_STALE_SECONDS,
        "last_tick_at": _iso(beat.at),
        "age_seconds": round(age, 3),
        "next_pass_at": _iso(beat.next_pass_at),
        "started_at": _iso(beat.started_at),
        "hostname": beat.hostname,
        "pid": beat.pid,
    }


def status_report(
    session: Session,
    settings: Settings,
    client: redis.Redis,
    *,
    org: str | None = None,
    now: datetime | None = None,
    inspect_timeout: float = INSPECT_TIMEOUT,
) -> dict[str, Any]:
    """Everything `xerosync status` says, as data (times ISO, durations in seconds).

    `org`: one organisation, matched as `sync --org` matches it (tenant id, name or id)."""
    from xerosync.beat import redis_now
    from xerosync.connections import find_connection

    now = now or redis_now(client)
    service = service_facts(client, now, timeout=inspect_timeout)
    beat = service["beat"]
    beat_next = (
        datetime.fromisoformat(beat["next_pass_at"])
        if beat["running"] and beat["next_pass_at"]
        else None
    )
    if org is not None:
        connections = [find_connection(session, org)]
    else:
        connections = list(session.scalars(select(Connection).order_by(Connection.id)))
    organisations = []
    for conn in connections:
        organisations.append(
            {
                "id": conn.id,
                "name": conn.tenant_name,
                "tenant_id": conn.tenant_id,
                "status": conn.status,
                "needs_reauthorisation": conn.status == ConnectionStatus.NEEDS_REAUTH.value,
                "status_reason": conn.status_reason,
                "template_contact_id": conn.template_contact_id,
                "last_pass": last_run(session, conn.id, now),
                "next_pass": next_pass(session, settings, client, conn, beat_next),
                "records": link_counts(session, conn.id),
                **scope_facts(conn, settings),
                "set_aside": set_aside_count(session, conn.id),
                "merges": merge_count(session, conn.id),
                "vanished_links": vanished_count(session, conn.id),
                "webhooks": webhook_facts(client, conn.id, now),
                "budget": budget_left(settings, client, conn.tenant_id),
                "spend_today": spend(client, conn.id),
            }
        )
    return {
        "generated_at": _iso(now),
        "service": service,
        "organisations": organisations,
        "queues": {name: q["waiting"] for name, q in service["workers"]["queues"].items()},
    }


def scope_facts(conn: Connection, settings: Settings) -> dict[str, Any]:
    """The scopes Xero granted the connection, a warning for a deprecated one, and whether
    TOKEN_ENCRYPTION_KEY opens the stored tokens at all (`token_error` says why not)."""
    from xerosync.connections import OrganisationError, token_cipher
    from xerosync.xero.crypto import TokenCipherError
    from xerosync.xero.scopes import grant_warning, granted_scopes

    try:
        cipher = token_cipher(settings) if conn.token_encrypted else None
        if conn.token_encrypted and cipher is None:
            raise OrganisationError(
                "stored tokens are encrypted but TOKEN_ENCRYPTION_KEY is not set: set the key "
                "they were stored with"
            )
        return {
            "scopes": list(granted_scopes(conn, cipher)),
            "scope_warning": grant_warning(conn, cipher),
            "token_error": None,
        }
    except (TokenCipherError, OrganisationError) as exc:
        return {"scopes": None, "scope_warning": None, "token_error": str(exc)}


def _rows_of(
    session: Session, model: type[ImportReject] | type[ContactMerge] | type[VanishedLink], org: int
) -> int:
    return int(
        session.scalar(select(func.count()).select_from(model).where(model.connection_id == org))
        or 0
    )


def set_aside_count(session: Session, connection_id: int) -> int:
    """Records from Xero the import could not store (see `xerosync errors`)."""
    return _rows_of(session, ImportReject, connection_id)


def merge_count(session: Session, connection_id: int) -> int:
    """Contacts merged in Xero whose customers followed the merge."""
    return _rows_of(session, ContactMerge, connection_id)


def _with_organisation(session: Session, model: Any, *order: Any) -> Any:
    """Rows of a per-organisation table, each with its organisation's name."""
    return session.execute(
        select(model, Connection.tenant_name)
        .join(Connection, Connection.id == model.connection_id)
        .order_by(*order)
    )


def vanished_count(session: Session, connection_id: int) -> int:
    """Links whose Xero record no longer existed, relinked instead of duplicated."""
    return _rows_of(session, VanishedLink, connection_id)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def webhook_facts(client: redis.Redis, connection_id: int, now: datetime) -> dict[str, Any]:
    """The last webhook event applied for the organisation, and its lag: from the moment it
    happened in Xero to the moment its record was stored (`xerosync.webhooks.jobs`)."""
    from xerosync.sync import webhook_health as health

    stored = client.hgetall(health.state_key(connection_id))
    raw = {_text(k): _text(v) for k, v in stored.items()}
    receiver = health.receiver_seen_at(client)
    facts: dict[str, Any] = {
        "receiver_running": receiver is not None,
        "last_event_at": None,
        "applied_at": None,
        "lag_seconds": None,
    }
    if "last_event_at" in raw and "applied_at" in raw:
        happened, applied = float(raw["last_event_at"]), float(raw["applied_at"])
        facts["last_event_at"] = _iso(datetime.fromtimestamp(happened, UTC))
        facts["applied_at"] = _iso(datetime.fromtimestamp(applied, UTC))
        facts["lag_seconds"] = round(max(0.0, applied - happened), 3)
    return facts


@dataclass(frozen=True)
class VanishedRecord:
    organisation: str
    kind: str
    local_id: int
    vanished_xero_id: str
    relinked_xero_id: str | None
    matched_by: str
    at: str | None


def vanished_links(session: Session) -> list[VanishedRecord]:
    """Links whose Xero record was gone, and the record each CRM row was relinked to."""
    return [
        VanishedRecord(
            organisation=org,
            kind=row.kind,
            local_id=row.local_id,
            vanished_xero_id=row.vanished_xero_id,
            relinked_xero_id=row.relinked_xero_id,
            matched_by=row.matched_by,
            at=_iso(row.detected_at),
        )
        for row, org in _with_organisation(session, VanishedLink, VanishedLink.id)
    ]


@dataclass(frozen=True)
class SetAsideRecord:
    organisation: str
    resource: str
    xero_id: str
    field: str | None
    message: str
    times: int
    since: str | None


def set_aside_records(session: Session) -> list[SetAsideRecord]:
    """What the import set aside: which Xero record, which field, and why."""
    order = (ImportReject.resource, ImportReject.xero_id)
    return [
        SetAsideRecord(
            organisation=org,
            resource=row.resource,
            xero_id=row.xero_id,
            field=row.field,
            message=row.message,
            times=row.times,
            since=_iso(row.first_seen),
        )
        for row, org in _with_organisation(session, ImportReject, *order)
    ]


@dataclass(frozen=True)
class MergeRecord:
    organisation: str
    customer_id: int
    merged_contact_id: str
    survivor_contact_id: str
    survivor_customer_id: int | None
    at: str | None


def merges(session: Session) -> list[MergeRecord]:
    """Contacts merged in Xero, and where their customers went."""
    return [
        MergeRecord(
            organisation=org,
            customer_id=row.customer_id,
            merged_contact_id=row.merged_contact_id,
            survivor_contact_id=row.survivor_contact_id,
            survivor_customer_id=row.survivor_customer_id,
            at=_iso(row.detected_at),
        )
        for row, org in _with_organisation(session, ContactMerge, ContactMerge.id)
    ]


@dataclass(frozen=True)
class RecordError:
    kind: str
    local_id: int
    label: str
    organisation: str
    field: str | None
    message: str
    attempts: int
    since: str | None
    state: str = LinkStatus.ERROR.value


def record_errors(session: Session, kind: str | None = None) -> list[RecordError]:
    """Records Xero rejected (or that failed for good), with Xero's words and the field, and
    records deferred with a reason (a rate limit past the broker's wait, a connection that
    waits for re-authorisation)."""
    query = (
        select(XeroLink, Connection.tenant_name)
        .join(Connection, Connection.id == XeroLink.connection_id)
        .where(
            (XeroLink.status == LinkStatus.ERROR.value)
            | ((XeroLink.status == LinkStatus.DEFERRED.value) & XeroLink.last_error.is_not(None))
        )
        .order_by(XeroLink.kind, XeroLink.local_id)
    )
    if kind:
        query = query.where(XeroLink.kind == kind)
    found = []
    for link, org in session.execute(query):
        record = cast(
            Customer | Product | Order | None, session.get(RECORD_MODELS[link.kind], link.local_id)
        )
        found.append(
            RecordError(
                kind=link.kind,
                local_id=link.local_id,
                label=_label(record),
                organisation=org,
                field=link.last_error_field,
                message=link.last_error or "",
                attempts=link.attempts,
                since=_iso(link.updated_at),
                state=link.status,
            )
        )
    return found


def _label(record: Customer | Product | Order | None) -> str:
    if record is None:
        return "(deleted)"
    if isinstance(record, Customer):
        return record.name
    if isinstance(record, Product):
        return f"{record.code} {record.name}"
    return f"order {record.number or record.id}"
