"""A contact name holding a quote or a backslash: Xero's `where` cannot express it (no escape
in its parser), so the duplicate-name link goes through `searchTerm` and an exact match."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, XeroLink
from xerosync.sync import outbox, push
from xerosync.sync.push import push_customers

pytestmark = pytest.mark.integration
outbox.install()


def create_in_xero(env: XerosyncEnv, *names: str) -> list[dict[str, Any]]:
    response = requests.put(
        env.sandbox.api_url + "/Contacts",
        json={"Contacts": [{"Name": name} for name in names]},
        headers=env.sandbox.headers(),
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["Contacts"])


class _SeesNothing:
    """`ChangedContacts` as if the contact was entered in Xero just after its read: the
    create is then refused as a duplicate name and `_link_by_name` has to find it."""

    def __init__(self, *_args: Any) -> None:
        pass

    def take(self, _customer: Customer) -> None:
        return None


@pytest.mark.parametrize("name", ['The "Quoted" Shop', "Back\\slash Traders"])
def test_a_duplicate_name_with_a_quote_links_the_existing_contact(
    xerosync_env: XerosyncEnv, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = xerosync_env
    monkeypatch.setattr(push, "ChangedContacts", _SeesNothing)
    existing, _decoy = create_in_xero(env, name, name + " Annex")
    env.sandbox.control.clear_requests()
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name=name, email="q@shop.test")
        session.add(customer)
        session.commit()
        report = push_customers(env.context(session), [customer])
        session.commit()
        linked = session.scalars(
            select(XeroLink).where(
                XeroLink.kind == LinkKind.CONTACT.value, XeroLink.local_id == customer.id
            )
        ).one()
    assert report.linked == 1 and report.created == 0 and report.rejected == 0
    assert linked.xero_id == existing["ContactID"]
    assert sum(c["Name"] == name for c in env.contacts()) == 1
    lookups = env.sandbox.control.requests(path="/api.xro/2.0/Contacts", method="GET")
    assert lookups and all("where" not in r["query"] for r in lookups)
    assert any(r["query"].get("searchTerm") == [name] for r in lookups)
    assert all(r["status"] == 200 for r in env.sandbox.control.requests(method="GET"))
