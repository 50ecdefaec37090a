"""Odd records from Xero never stop an organisation's sync: each is set aside with what,
where and why; the page, its cursor and the rest of the pass go on. Both databases.

Each case plants a record the CRM cannot store as it stands (the sandbox's control API edits
as Xero's UI would, without the API's checks): a name longer than Xero's own limit, a NUL
character, phone parts as long as Xero allows, a `/Date()/` beyond the years a datetime holds.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, ImportReject, Invoice, SyncCursor
from xerosync.sync import jobs
from xerosync.sync.pull import STREAMS_BY_NAME, apply_page, load_page, record_rejects

pytestmark = pytest.mark.integration


def run_pass(env: XerosyncEnv) -> jobs.JobResult:
    return jobs.routine_pass_for(env.connection_id, settings=env.settings, engine=env.engine)


def contact(env: XerosyncEnv, name: str) -> dict[str, Any]:
    return next(c for c in env.contacts() if c["Name"] == name)


def customer_names(env: XerosyncEnv) -> set[str]:
    with env.session() as session:
        return set(session.scalars(select(Customer.name)))


def rejects(env: XerosyncEnv) -> list[ImportReject]:
    with env.session() as session:
        return list(session.scalars(select(ImportReject)))


def test_a_name_longer_than_any_column_is_set_aside_and_the_rest_imported(
    xerosync_env: XerosyncEnv,
) -> None:
    """Refused before the flush on both databases (PostgreSQL would refuse it, SQLite keep it)."""
    env = xerosync_env
    boom = contact(env, "Boom FM")
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"Name": "B" * 300})
    result = run_pass(env)
    assert result.status == "ok", result.error
    counts = result.detail["counts"]
    names = customer_names(env)
    assert "Marine Systems" in names
    assert "push" in counts and "invoices" in counts, "the pass reached its later steps"
    with env.session() as session:
        cursor = session.get(SyncCursor, (env.connection_id, "contacts"))
        assert cursor is not None and cursor.cursor is not None
    assert "B" * 300 not in names
    [reject] = rejects(env)
    assert reject.resource == "Contacts" and reject.xero_id == boom["ContactID"]
    assert reject.field == "name" and "longer than the 255" in reject.message, reject.message
    assert counts["contacts"]["rejected"] == 1
    again = run_pass(env)
    assert again.status == "ok"
    assert len(customer_names(env)) == len(names), "nothing imported twice"
    assert len(rejects(env)) <= 1


def test_nul_characters_are_dropped_not_fatal(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    boom = contact(env, "Boom FM")
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"Name": "Boom\x00 FM Radio"})
    result = run_pass(env)
    assert result.status == "ok", result.error
    assert "Boom FM Radio" in customer_names(env)
    assert rejects(env) == []


def test_phone_parts_as_long_as_xero_allows_are_stored(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    boom = contact(env, "Boom FM")
    phone = {
        "PhoneType": "DEFAULT",
        "PhoneCountryCode": "9" * 20,
        "PhoneAreaCode": "8" * 10,
        "PhoneNumber": "7" * 50,
    }
    env.sandbox.control.edit("Contacts", boom["ContactID"], {"Phones": [phone]})
    result = run_pass(env)
    assert result.status == "ok", result.error
    with env.session() as session:
        stored = session.scalars(select(Customer.phone).where(Customer.name == "Boom FM")).one()
    assert stored is not None and "7" * 50 in stored
    assert rejects(env) == []


def test_a_date_beyond_what_a_datetime_holds_is_set_aside(xerosync_env: XerosyncEnv) -> None:
    """The sandbox cannot hold such a date either, so the page is Xero's answer, as read."""
    env = xerosync_env
    with env.session() as session:
        ctx = env.context(session)
        page = next(iter(ctx.client.pages("Invoices", where='Type=="ACCREC"'))).rows
        odd = page[0]["InvoiceID"]
        page[0]["DueDate"] = "/Date(999999999999999999+0000)/"
        counts = dict.fromkeys(("created", "updated", "unchanged", "rejected", "linked"), 0)
        rows = load_page("Invoices", page, counts, ctx)
        stored = apply_page(ctx, STREAMS_BY_NAME["invoices"], rows, counts)
        record_rejects(ctx, "Invoices", stored)
        session.commit()
        assert counts["rejected"] == 1 and len(stored) == len(page) - 1
    [reject] = rejects(env)
    assert reject.resource == "Invoices" and reject.xero_id == odd
    assert reject.field == "DueDate" and "Date" in reject.message
    with env.session() as session:
        imported = set(session.scalars(select(Invoice.xero_invoice_id)))
    assert odd not in imported and len(imported) == len(page) - 1
