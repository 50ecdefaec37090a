"""Re-authorisation: a marked connection makes no calls; reconnecting resumes what waited.

The refresh token is revoked in the sandbox (as when a user removes the app in Xero). The
first task to need a refresh is refused (`invalid_grant`) and marks the connection; records
tried then wait for the connection, not for an operator. Every later task, in any process,
makes no call at all. `xerosync connect` again, and the waiting order is invoiced and the
waiting customers pushed, with no `xerosync retry`.
"""

from __future__ import annotations

import pytest
import requests

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.paths.support import (
    assert_clean_logs,
    confirmed_order,
    eventually,
    invoice_id,
    invoices_of,
    link,
    new_customer,
)
from xerosync.cli import main
from xerosync.connections import DatabaseTokenStore, token_cipher
from xerosync.models import Connection, ConnectionStatus, LinkKind, LinkStatus
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sync.outcomes import WAITING_FOR_RECONNECT
from xerosync.tasks import create_invoice_for_order, push_contact

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]


def revoke_in_xero(env: FaultEnv) -> None:
    """The user removed the app: the refresh token is revoked, access tokens expired."""
    tokens = DatabaseTokenStore(env.engine, token_cipher(env.settings)).load(DEMO_TENANT_ID)
    assert tokens is not None and tokens.refresh_token
    answer = requests.post(
        f"{env.sandbox.url}/connect/revocation", data={"token": tokens.refresh_token}, timeout=5
    )
    assert answer.ok


def status(env: FaultEnv) -> str:
    with env.session() as session:
        return session.get_one(Connection, env.connection_id).status


def waiting(env: FaultEnv, kind: LinkKind, local_id: int) -> bool:
    found = link(env, kind, local_id)
    return bool(
        found is not None
        and found.status == LinkStatus.DEFERRED.value
        and (found.last_error or "").startswith(WAITING_FOR_RECONNECT)
    )


def test_records_wait_for_the_reconnect_and_resume_without_an_operator(
    fault_env: FaultEnv,  # noqa: F811
) -> None:
    env = fault_env
    env.start_worker("invoices", "invoices", concurrency=1)
    env.start_worker("sync", "sync", concurrency=1)
    order_id = confirmed_order(env, "Revoked Retail")
    first = new_customer(env, "Waiting Wombat")
    revoke_in_xero(env)

    create_invoice_for_order.delay(order_id)
    eventually(lambda: waiting(env, LinkKind.INVOICE, order_id), timeout=30)
    assert status(env) == ConnectionStatus.NEEDS_REAUTH.value

    # Marked: later work, in either worker, makes no call to Xero at all (no 401, no refresh).
    calls_before = len(env.control.requests())
    push_contact.delay(first)
    eventually(lambda: waiting(env, LinkKind.CONTACT, first), timeout=30)
    second_order = confirmed_order(env, "Second Sale", number="Q-2")
    create_invoice_for_order.delay(second_order)
    eventually(lambda: waiting(env, LinkKind.INVOICE, second_order), timeout=30)
    assert len(env.control.requests()) == calls_before

    assert main(["connect"]) == 0  # a person re-authorises; nothing else is run
    assert status(env) == ConnectionStatus.ACTIVE.value
    eventually(lambda: invoice_id(env, order_id), timeout=60)
    eventually(lambda: invoice_id(env, second_order), timeout=60)

    def pushed() -> bool:
        """the waiting customer reached Xero"""
        found = link(env, LinkKind.CONTACT, first)
        return bool(found and found.status == LinkStatus.SYNCED.value)

    eventually(pushed, timeout=60)
    assert len(invoices_of(env, order_id)) == len(invoices_of(env, second_order)) == 1
    assert_clean_logs(env)
