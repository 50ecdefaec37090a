"""Applying webhook events against the sandbox: the changed records fetched by IDs and stored
by the import's own code; bills never stored; replays change nothing; unknown tenants dropped."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import func, select

from tests.fixtures.xerosync import XerosyncEnv
from tests.webhooks.support import event
from xerosync.cli import main
from xerosync.models import Customer, DocumentStatus, Invoice
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sync import jobs as sync_jobs
from xerosync.webhooks import jobs
from xerosync.webhooks.events import parse_event

pytestmark = pytest.mark.integration


def _imported(env: XerosyncEnv) -> None:
    assert sync_jobs.routine_pass_for(env.connection_id, settings=env.settings).status == "ok"
    env.sandbox.control.clear_requests()


def _gets(env: XerosyncEnv) -> list[str]:
    return [
        f"{r['path'].rsplit('/', 1)[-1]}?{r.get('query', '')}"
        for r in env.sandbox.control.requests(method="GET")
    ]


def _sales_invoice(env: XerosyncEnv) -> dict[str, object]:
    return next(
        i
        for i in env.sandbox.control.records("Invoices")
        if i["Type"] == "ACCREC" and i["Status"] == "AUTHORISED"
    )


def test_an_edited_contact_and_a_voided_invoice_reach_the_crm_in_one_call_each(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    _imported(env)
    contact = next(c for c in env.contacts() if c.get("ContactStatus") == "ACTIVE")
    env.sandbox.control.edit("Contacts", str(contact["ContactID"]), {"Name": "Renamed in Xero"})
    invoice = _sales_invoice(env)
    env.sandbox.control.edit("Invoices", str(invoice["InvoiceID"]), {"Status": "VOIDED"})

    events = [
        event("CONTACT", str(contact["ContactID"]), tenant_id=DEMO_TENANT_ID),
        event("INVOICE", str(invoice["InvoiceID"]), tenant_id=DEMO_TENANT_ID),
    ]
    raw = [_as_job_event(e) for e in events]
    result = jobs.apply_events(DEMO_TENANT_ID, raw, 0.0, settings=env.settings)

    assert result.status == "ok", result
    gets = _gets(env)
    assert len([g for g in gets if g.startswith("Contacts")]) == 1, gets
    assert len([g for g in gets if g.startswith("Invoices")]) == 1, gets
    with env.session() as session:
        names = session.scalars(select(Customer.name)).all()
        assert "Renamed in Xero" in names
        stored = session.scalars(
            select(Invoice).where(Invoice.xero_invoice_id == str(invoice["InvoiceID"]))
        ).one()
        assert stored.status == DocumentStatus.DELETED.value


def test_a_bill_event_stores_nothing_and_downloads_no_bill(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    _imported(env)
    bill = next(i for i in env.sandbox.control.records("Invoices") if i["Type"] == "ACCPAY")
    with env.session() as session:
        before = session.scalar(select(func.count()).select_from(Invoice))
    raw = [_as_job_event(event("INVOICE", str(bill["InvoiceID"]), tenant_id=DEMO_TENANT_ID))]
    result = jobs.apply_events(DEMO_TENANT_ID, raw, 0.0, settings=env.settings)
    assert result.status == "ok"
    assert result.detail["applied"]["invoices"]["read"] == 0
    with env.session() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == before
        assert (
            session.scalars(
                select(Invoice).where(Invoice.xero_invoice_id == str(bill["InvoiceID"]))
            ).first()
            is None
        )


def test_a_replayed_or_duplicated_event_changes_nothing_more(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    _imported(env)
    contact = env.contacts()[0]
    env.sandbox.control.edit(
        "Contacts", str(contact["ContactID"]), {"EmailAddress": "new@x.example"}
    )
    one = _as_job_event(event("CONTACT", str(contact["ContactID"]), tenant_id=DEMO_TENANT_ID))
    first = jobs.apply_events(DEMO_TENANT_ID, [one, one], 0.0, settings=env.settings)
    assert first.detail["applied"]["contacts"]["read"] == 1  # the duplicate is fetched once
    again = jobs.apply_events(DEMO_TENANT_ID, [one], 0.0, settings=env.settings)
    counts = again.detail["applied"]["contacts"]
    assert counts["unchanged"] == 1 and counts["updated"] == counts["created"] == 0


def test_events_for_an_organisation_not_connected_are_dropped(xerosync_env: XerosyncEnv) -> None:
    stranger = str(uuid.uuid4())
    xerosync_env.sandbox.control.clear_requests()
    raw = [_as_job_event(event("CONTACT", tenant_id=stranger))]
    result = jobs.apply_events(stranger, raw, 0.0, settings=xerosync_env.settings)
    assert result.status == "dropped"
    assert xerosync_env.sandbox.control.requests(method="GET") == []


def test_many_events_cost_one_call_per_fifty_records(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    _imported(env)
    env.sandbox.control.bulk(Contacts=120)
    env.sandbox.control.clear_requests()
    ids = [str(c["ContactID"]) for c in env.contacts()][:120]
    raw = [_as_job_event(event("CONTACT", i, tenant_id=DEMO_TENANT_ID)) for i in ids]
    result = jobs.apply_events(DEMO_TENANT_ID, raw, 0.0, settings=env.settings)
    assert result.detail["applied"]["contacts"]["read"] == 120
    assert len([g for g in _gets(env) if g.startswith("Contacts")]) == 3


def _as_job_event(raw: dict[str, object]) -> dict[str, str]:
    """The receiver's form of an event (what it queues)."""

    parsed = parse_event(raw, 0)
    assert parsed is not None
    return parsed.as_dict()


def test_status_shows_the_last_event_and_its_lag(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    contact = env.contacts()[0]
    raw = [_as_job_event(event("CONTACT", str(contact["ContactID"]), tenant_id=DEMO_TENANT_ID))]
    assert jobs.apply_events(DEMO_TENANT_ID, raw, 0.0, settings=env.settings).status == "ok"
    capsys.readouterr()
    assert main(["status", "--json", "--wait", "0.1"]) == 0
    hooks = json.loads(capsys.readouterr().out)["organisations"][0]["webhooks"]
    assert hooks["last_event_at"].startswith("2026-12-02T01:15:39")
    assert hooks["lag_seconds"] > 0 and hooks["receiver_running"] is False
    assert main(["status", "--wait", "0.1"]) == 0
    assert "webhooks: last event" in capsys.readouterr().out


def test_contacts_are_applied_before_the_invoices_that_may_name_them() -> None:
    invoice = parse_event(event("INVOICE", tenant_id=DEMO_TENANT_ID), 0)
    contact = parse_event(event("CONTACT", tenant_id=DEMO_TENANT_ID), 1)
    assert invoice is not None and contact is not None
    assert list(jobs.changed_ids([invoice, contact, invoice])) == ["contacts", "invoices"]
