"""A delivery's events, checked: what a webhook says changed, in which organisation.

Only the fields the work needs are kept. An event of a category xerosync does not import
(SUBSCRIPTION, and PREPAYMENT/OVERPAYMENT added after the spec) is dropped here, and a
credit note event that says it is a supplier's (`ACCPAYCREDIT`) is dropped too: bills and
their credit notes are never read.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

STREAMS = {"CONTACT": "contacts", "INVOICE": "invoices", "CREDITNOTE": "credit_notes"}
"""Webhook categories xerosync applies, and the import stream each one feeds."""


class MalformedDelivery(ValueError):
    """A signed body that is not a webhook delivery; the message says what is wrong where."""


@dataclass(frozen=True)
class Event:
    tenant_id: str
    category: str
    resource_id: str
    event_type: str
    event_date: str

    @property
    def stream(self) -> str:
        return STREAMS[self.category]

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Delivery:
    events: list[Event]
    dropped: int
    """Events of categories or types xerosync does not import."""
    first_sequence: int | None
    last_sequence: int | None

    @property
    def is_intent_to_receive(self) -> bool:
        return not self.events and not self.dropped


def _uuid(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise MalformedDelivery(f"{where}: {value!r} is not a GUID") from None


def parse_event(raw: Any, index: int) -> Event | None:
    where = f"events[{index}]"
    if not isinstance(raw, dict):
        raise MalformedDelivery(f"{where}: expected an object")
    missing = [
        k
        for k in ("resourceId", "eventDateUtc", "eventType", "eventCategory", "tenantId")
        if not raw.get(k)
    ]
    if missing:
        raise MalformedDelivery(f"{where}: missing {', '.join(missing)}")
    category = str(raw["eventCategory"]).upper()
    if category not in STREAMS or raw.get("tenantType", "ORGANISATION") != "ORGANISATION":
        return None
    data = raw.get("data")
    if category == "CREDITNOTE" and isinstance(data, dict) and data.get("Type") == "ACCPAYCREDIT":
        return None
    return Event(
        tenant_id=_uuid(raw["tenantId"], f"{where}.tenantId"),
        category=category,
        resource_id=_uuid(raw["resourceId"], f"{where}.resourceId"),
        event_type=str(raw["eventType"]).upper(),
        event_date=str(raw["eventDateUtc"]),
    )


def parse(body: bytes) -> Delivery:
    """The delivery in `body`, or MalformedDelivery naming the first problem."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDelivery(f"body is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise MalformedDelivery("expected an object with an `events` list")
    parsed = [parse_event(raw, i) for i, raw in enumerate(data["events"])]
    events = [e for e in parsed if e is not None]
    return Delivery(
        events=events,
        dropped=len(parsed) - len(events),
        first_sequence=_int_or_none(data.get("firstEventSequence")),
        last_sequence=_int_or_none(data.get("lastEventSequence")),
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def by_tenant(events: list[Event]) -> dict[str, list[Event]]:
    """Events grouped per organisation, each organisation's in delivery order."""
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(event.tenant_id, []).append(event)
    return grouped
