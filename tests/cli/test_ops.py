"""The operating commands against the sandbox, checking what they print."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import XerosyncEnv
from xerosync.cli import main
from xerosync.models import Connection, Customer, LinkStatus, XeroLink
from xerosync.sync import outbox

pytestmark = pytest.mark.integration
outbox.install()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sync_runs_a_pass_and_prints_its_summary(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sync")
    assert code == 0
    assert "pass ok" in out
    assert "contacts: read" in out and "created" in out

    code, out, _ = run(capsys, "status", "--json")
    report = json.loads(out)
    [org] = report["organisations"]
    assert org["name"] == "Demo Company"
    assert org["last_pass"]["outcome"] == "ok"
    assert org["budget"]["day_left"] < xerosync_env.settings.XERO_DAY_LIMIT
    assert set(report["queues"]) == {"invoices", "sync"}

    code, out, _ = run(capsys, "status")
    assert "Demo Company" in out and "last pass:" in out and "budget left:" in out


def test_errors_lists_rejections_and_retry_queues_them(
    xerosync_env: XerosyncEnv, celery_worker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    with env.session() as session:
        customer = Customer(
            connection_id=env.connection_id, name="Odd Money", default_currency="QQQ"
        )
        session.add(customer)
        session.commit()
        customer_id = customer.id
    assert run(capsys, "sync")[0] == 0

    code, out, _ = run(capsys, "errors", "--json")
    [error] = json.loads(out)["records"]
    assert error["kind"] == "contact" and error["local_id"] == customer_id
    assert "QQQ" in error["message"]
    assert "Odd Money" in run(capsys, "errors")[1]

    env.sandbox.control.clear_requests()
    code, out, _ = run(capsys, "retry", "contact", str(customer_id))
    assert code == 0 and f"queued contact #{customer_id}" in out

    def tried_again() -> bool:
        with env.session() as session:
            link = session.scalars(
                select(XeroLink).where(XeroLink.local_id == customer_id, XeroLink.kind == "contact")
            ).one()
            return link.status == LinkStatus.ERROR.value and link.attempts == 1

    eventually(tried_again)
    assert env.sandbox.control.requests(path="/api.xro/2.0/Contacts", method="PUT")

    with env.session() as session:  # fixing the record is enough: it is pending again
        session.get_one(Customer, customer_id).default_currency = "AUD"
        session.commit()
    assert run(capsys, "errors")[1].strip() == "no record is in error"
    assert run(capsys, "sync")[0] == 0
    with env.session() as session:
        link = session.scalars(
            select(XeroLink).where(XeroLink.local_id == customer_id, XeroLink.kind == "contact")
        ).one()
        assert link.status == LinkStatus.SYNCED.value


def test_retry_needs_a_record_or_all(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "retry")
    assert code == 2 and "--all" in err


def test_template_nominates_a_contact_by_name(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    code, out, _ = run(capsys, "template", "Boom FM")
    assert code == 0 and "Boom FM" in out
    boom = next(c for c in env.contacts() if c["Name"] == "Boom FM")
    with env.session() as session:
        assert session.scalars(select(Connection)).one().template_contact_id == boom["ContactID"]
    code, _, err = run(capsys, "template", "Nobody At All")
    assert code == 2 and "0 contacts" in err


def test_connections_lists_the_demo_company(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "connections")
    assert code == 0 and "Demo Company" in out and "authorization_code" in out


def test_errors_and_status_show_what_the_import_set_aside(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    from xerosync.models import ImportReject

    env = xerosync_env
    with env.session() as session:
        session.add(
            ImportReject(
                connection_id=env.connection_id, resource="Invoices", xero_id="inv-odd-1",
                field="DueDate", message="a Xero date outside the years 1-9999", times=3,
            )
        )  # fmt: skip
        session.commit()
    code, out, _ = run(capsys, "errors")
    assert code == 0 and "Set aside by the import" in out
    assert "inv-odd-1" in out and "DueDate" in out and "outside the years" in out
    [aside] = json.loads(run(capsys, "errors", "--json")[1])["set_aside"]
    assert aside["xero_id"] == "inv-odd-1" and aside["times"] == 3
    status = run(capsys, "status")[1]
    assert "1 record(s) from Xero set aside" in status
    assert "scopes:" in status and "accounting.invoices" in status
    assert "accounting.transactions" not in status


def test_template_finds_a_name_with_a_quote_by_search_term(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    import requests

    env = xerosync_env
    name = 'Say "Hi" Ltd'
    response = requests.put(
        env.sandbox.api_url + "/Contacts",
        json={"Contacts": [{"Name": name}, {"Name": name + " (old)"}]},
        headers=env.sandbox.headers(),
        timeout=30,
    )
    response.raise_for_status()
    code, out, _ = run(capsys, "template", name)
    assert code == 0 and name in out
    wanted = response.json()["Contacts"][0]["ContactID"]
    with env.session() as session:
        assert session.scalars(select(Connection)).one().template_contact_id == wanted
    searched = env.sandbox.control.requests(path="/api.xro/2.0/Contacts", method="GET")
    assert [r["query"].get("searchTerm") for r in searched] == [[name]]
