"""The day's spend by kind: the import's reads ("import", or "idle" when they brought nothing),
pushes ("push") and invoice creation ("invoices"), as `status` shows them."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import select

from tests.fixtures.xerosync import XerosyncEnv
from tests.sync.test_invoices import confirmed_order
from xerosync.models import Customer
from xerosync.sync import jobs, outbox
from xerosync.xero.spend import KindSpend, spend_today

pytestmark = pytest.mark.integration
outbox.install()


def spent(env: XerosyncEnv) -> dict[str, KindSpend]:
    return spend_today(redis.Redis.from_url(env.settings.REDIS_URL), env.connection_id)


def test_reads_that_bring_nothing_are_spent_as_idle(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    assert jobs.routine_pass_for(env.connection_id).status == "ok"
    first = spent(env)
    assert first["import"].calls >= 3 and first["import"].bytes_in > 2_000
    assert first["push"].calls == 0 and first["invoices"].calls == 0

    assert jobs.routine_pass_for(env.connection_id).status == "ok"
    second = spent(env)
    assert second["import"] == first["import"], "nothing new: no import spend"
    assert second["idle"].calls - first["idle"].calls == 4, "one read per stream"


def test_pushes_and_invoices_are_spent_as_their_own_kinds(xerosync_env: XerosyncEnv) -> None:
    env = xerosync_env
    with env.session() as session:
        session.add(Customer(connection_id=env.connection_id, name="Spent as push"))
        session.commit()
        customer_id = session.scalars(
            select(Customer.id).where(Customer.name == "Spent as push")
        ).one()
    assert jobs.push_contact(customer_id).status == "done"
    after_push = spent(env)
    assert after_push["push"].calls >= 1 and after_push["push"].bytes_out > 0
    assert after_push["import"].calls == 0 and after_push["other"].calls == 0

    order_id = confirmed_order(env)
    assert jobs.invoice_order(order_id).status == "done"
    after_invoice = spent(env)
    assert after_invoice["invoices"].calls >= 1
    assert after_invoice["other"].calls == 0, "every call of the work has its kind"
