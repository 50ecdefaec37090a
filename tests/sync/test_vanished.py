"""Links whose Xero record no longer exists: the import relinks the customer to the record
Xero offers now, and says so, instead of creating a duplicate; a real duplicate in Xero is
still mirrored."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.cli import main
from xerosync.models import Customer, LinkKind, VanishedLink, XeroLink
from xerosync.sync import jobs
from xerosync.sync.pull import forget_cursors

pytestmark = pytest.mark.integration

PEOPLE = [("Quokka Quarries", "ap@quokka.example"), ("Wombat Works", "ap@wombat.example")]


def _pass(env: XerosyncEnv, *, full: bool = False) -> dict[str, Any]:
    result = jobs.routine_pass_for(env.connection_id, full=full, settings=env.settings)
    assert result.status == "ok", result
    return dict(result.detail["counts"])


def _pushed_customers(env: XerosyncEnv) -> dict[str, str]:
    """Two CRM customers pushed to Xero: name -> their ContactID."""
    with env.session() as session:
        for name, email in PEOPLE:
            session.add(Customer(connection_id=env.connection_id, name=name, email=email))
        session.commit()
    _pass(env)
    with env.session() as session:
        rows = session.execute(
            select(Customer.name, XeroLink.xero_id)
            .join(XeroLink, XeroLink.local_id == Customer.id)
            .where(
                XeroLink.kind == LinkKind.CONTACT.value, Customer.name.in_([n for n, _ in PEOPLE])
            )
        )
        return {name: str(xero_id) for name, xero_id in rows}


def _links_point_at_records_xero_no_longer_has(env: XerosyncEnv, names: list[str]) -> list[str]:
    """What a restore or a reset leaves: the CRM's links name IDs Xero does not have, while
    Xero holds the same contacts under other IDs. Returns the vanished IDs."""
    gone = []
    with env.session() as session:
        for link in session.scalars(
            select(XeroLink)
            .join(Customer, XeroLink.local_id == Customer.id)
            .where(XeroLink.kind == LinkKind.CONTACT.value, Customer.name.in_(names))
        ):
            link.xero_id = str(uuid.uuid4())
            gone.append(link.xero_id)
        session.commit()
    return gone


def _customers(env: XerosyncEnv) -> int:
    with env.session() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


def test_a_vanished_contact_offered_again_under_a_new_id_is_relinked_not_duplicated(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    _pushed_customers(env)
    old = _links_point_at_records_xero_no_longer_has(env, [n for n, _ in PEOPLE])
    env.sandbox.control.clear_requests()
    before = _customers(env)

    counts = _pass(env, full=True)

    assert _customers(env) == before, "no duplicate customer"
    assert counts["contacts"].get("relinked") == 2
    with env.session() as session:
        repairs = session.scalars(select(VanishedLink)).all()
        assert sorted(r.vanished_xero_id for r in repairs) == sorted(old)
        assert {r.matched_by for r in repairs} <= {"number", "email", "name"}
        links = session.scalars(select(XeroLink.xero_id).where(XeroLink.xero_id.in_(old))).all()
        assert links == []
    ids_calls = [
        r for r in env.sandbox.control.requests(method="GET") if "IDs" in (r.get("query") or {})
    ]
    assert len(ids_calls) == 1, "one look-up for both"


def test_a_second_contact_in_xero_while_the_first_exists_is_mirrored(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    _pushed_customers(env)
    before = _customers(env)
    response = env.sandbox.control.session.put(
        f"{env.sandbox.api_url}/Contacts",
        json={"Contacts": [{"Name": "Quokka Quarries Pty", "EmailAddress": PEOPLE[0][1]}]},
        headers=env.sandbox.headers(),
        timeout=10,
    )
    assert response.status_code == 200, response.text

    counts = _pass(env)

    assert _customers(env) == before + 1
    assert not counts["contacts"].get("relinked")
    with env.session() as session:
        assert session.scalar(select(func.count()).select_from(VanishedLink)) == 0


def test_a_full_pass_after_nothing_vanished_asks_xero_nothing_more(
    xerosync_env: XerosyncEnv,
) -> None:
    env = xerosync_env
    _pass(env)
    with env.session() as session, session.begin():
        forget_cursors(env.context(session))
    env.sandbox.control.clear_requests()
    _pass(env, full=True)
    assert not [
        r for r in env.sandbox.control.requests(method="GET") if "IDs" in (r.get("query") or {})
    ]


def test_errors_and_status_say_which_links_were_repaired(
    xerosync_env: XerosyncEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    env = xerosync_env
    _pushed_customers(env)
    old = _links_point_at_records_xero_no_longer_has(env, [PEOPLE[0][0]])
    _pass(env, full=True)
    capsys.readouterr()

    assert main(["errors", "--json"]) == 0
    vanished = json.loads(capsys.readouterr().out)["vanished"]
    assert [v["vanished_xero_id"] for v in vanished] == old
    assert main(["status", "--wait", "0.1"]) == 0
    assert "1 link(s) pointed at Xero records that no longer exist" in capsys.readouterr().out
