"""Every write sent to Xero leaves an audit row, also when the answer is lost."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, XeroWrite
from xerosync.sync import outbox
from xerosync.sync.push import push_customers

pytestmark = pytest.mark.integration
outbox.install()


def test_writes_are_audited_with_body_key_and_outcome(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    env.sandbox.control.add_fault("lost_response", method="PUT", path="/api.xro/2.0/Contacts")
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name="Audited Pty")
        session.add(customer)
        session.commit()
        with pytest.raises(Exception, match="connection"):
            push_customers(env.context(session), [customer])
        session.rollback()
        push_customers(env.context(session), [customer])
        session.commit()
    with env.session() as session:
        rows = list(session.scalars(select(XeroWrite).order_by(XeroWrite.id)))
    assert [r.outcome for r in rows] == ["no_answer", "ok"]
    lost, again = rows
    assert lost.kind == "contact" and lost.method == "PUT"
    # The lost create landed: the retry's look-up finds it by our ContactNumber, links it and
    # sends the CRM's details as an update (a key of its own), not a second create.
    assert again.method == "POST"
    assert lost.local_ids == again.local_ids == [customer.id]
    assert lost.idempotency_key and again.idempotency_key
    assert lost.request_body["Contacts"][0]["Name"] == "Audited Pty"
    assert again.status_code == 200
    assert all("Bearer" not in str(r.request_body) for r in rows)
    contacts = [c for c in env.contacts() if c["Name"] == "Audited Pty"]
    assert len(contacts) == 1, "the lost create was found, not repeated"
