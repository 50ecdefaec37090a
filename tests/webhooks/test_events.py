"""A delivery's events: kept, dropped, or refused with what and where."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.webhooks.support import delivery, event
from xerosync.webhooks.events import MalformedDelivery, by_tenant, parse

TENANT = str(uuid.uuid4())


def test_contact_invoice_and_sales_credit_note_events_are_kept_per_tenant() -> None:
    other = str(uuid.uuid4())
    parsed = parse(
        delivery(
            event("CONTACT", tenant_id=TENANT),
            event("INVOICE", tenant_id=other),
            event("CREDITNOTE", tenant_id=TENANT, data={"Type": "ACCRECCREDIT", "Status": "DRAFT"}),
        )
    )
    assert [e.stream for e in parsed.events] == ["contacts", "invoices", "credit_notes"]
    assert {t: len(es) for t, es in by_tenant(parsed.events).items()} == {TENANT: 2, other: 1}
    assert parsed.first_sequence == 1 and parsed.last_sequence == 3


def test_supplier_credit_notes_subscriptions_and_new_categories_are_dropped() -> None:
    parsed = parse(
        delivery(
            event("CREDITNOTE", tenant_id=TENANT, data={"Type": "ACCPAYCREDIT", "Status": "DRAFT"}),
            {**event("SUBSCRIPTION", tenant_id=TENANT), "tenantType": "APPLICATION"},
            event("PREPAYMENT", tenant_id=TENANT),
        )
    )
    assert parsed.events == [] and parsed.dropped == 3
    assert not parsed.is_intent_to_receive


def test_an_intent_to_receive_delivery_has_no_events() -> None:
    assert parse(delivery()).is_intent_to_receive


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b'"events"', "expected an object"),
        (json.dumps({"events": [42]}).encode(), "events[0]: expected an object"),
        (json.dumps({"events": [{"eventCategory": "CONTACT"}]}).encode(), "events[0]: missing"),
        (
            delivery({**event("CONTACT", tenant_id=TENANT), "resourceId": "nope"}),
            "events[0].resourceId: 'nope' is not a GUID",
        ),
    ],
)
def test_a_body_that_is_not_a_delivery_says_what_and_where(body: bytes, says: str) -> None:
    with pytest.raises(MalformedDelivery, match=says.replace("[", r"\[").replace("]", r"\]")):
        parse(body)
