"""Deliveries as Xero sends them (xero-webhooks.yaml), signed with a key of the test's."""

from __future__ import annotations

import json
import uuid
from typing import Any

from xerosync.webhooks.signature import sign

KEY = "test-webhook-key-" + "k" * 40


def event(
    category: str,
    resource_id: str | None = None,
    *,
    tenant_id: str,
    event_type: str = "UPDATE",
    at: str = "2026-12-02T01:15:39.902",
    **extra: Any,
) -> dict[str, Any]:
    rid = resource_id or str(uuid.uuid4())
    path = {"CONTACT": "Contacts", "INVOICE": "Invoices", "CREDITNOTE": "CreditNotes"}.get(
        category, category.title()
    )
    return {
        "resourceUrl": f"https://api.xero.com/api.xro/2.0/{path}/{rid}",
        "resourceId": rid,
        "eventDateUtc": at,
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
        **extra,
    }


def delivery(*events: dict[str, Any], first: int = 1) -> bytes:
    return json.dumps(
        {
            "events": list(events),
            "firstEventSequence": first,
            "lastEventSequence": first + max(len(events) - 1, 0),
            "entropy": "FXNGWLCCGVANWHKILRUB",
        }
    ).encode()


def signed(body: bytes, key: str = KEY) -> dict[str, str]:
    return {"x-xero-signature": sign(body, key), "Content-Type": "application/json"}
