"""Connecting organisations: custom connections, listing, disconnecting, encryption at rest,
and the scopes Xero grants (a new app may not ask for the deprecated broad ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.fixtures.sandbox import Sandbox
from tests.fixtures.xerosync import XerosyncEnv, free_port
from xerosync.cli import main
from xerosync.connections import DatabaseTokenStore, EncryptionRequired, token_cipher
from xerosync.db import get_engine
from xerosync.models import Connection, Customer, LinkStatus, Order, OrderLine, OrderStatus
from xerosync.models.sync import XeroLink
from xerosync.settings import get_settings, load_settings
from xerosync.sync import jobs
from xerosync.xero.auth import DEFAULT_SCOPES
from xerosync.xero.factory import build_client
from xerosync.xero.scopes import deprecated_granted, granted_scopes

BROAD = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.transactions"
)

pytestmark = pytest.mark.integration


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, sandbox: Sandbox
) -> Sandbox:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("XERO_BASE_URL", sandbox.url)
    monkeypatch.setenv("XERO_REDIRECT_URI", f"http://localhost:{free_port()}/callback")
    get_settings.cache_clear()
    yield sandbox
    get_settings.cache_clear()


def rows() -> list[Connection]:
    with Session(get_engine()) as session:
        return list(session.scalars(select(Connection)))


def test_a_custom_connection_is_stored_and_listed(
    configured: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connect", "--client-credentials"]) == 0
    [row] = rows()
    assert row.auth_kind == "client_credentials"
    assert row.tenant_name == "Demo Company"
    assert row.token_encrypted is False  # sandbox only
    assert main(["connections"]) == 0
    assert "client_credentials" in capsys.readouterr().out


def test_disconnect_removes_the_organisation_here_and_in_xero(
    configured: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connect"]) == 0
    assert main(["disconnect", "Demo Company"]) == 0
    assert "disconnected and removed Demo Company" in capsys.readouterr().out
    assert rows() == []
    deletes = configured.control.requests(method="DELETE")
    assert any(r["path"].lower().startswith("/connections/") for r in deletes)


def test_an_unknown_organisation_is_named_in_the_error(
    configured: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disconnect", "Nobody Ltd"]) == 2
    assert "Nobody Ltd" in capsys.readouterr().err


def test_tokens_for_a_real_xero_must_be_encrypted() -> None:
    settings = load_settings({"XERO_BASE_URL": "https://api.xero.com"}, env_file=None)
    with pytest.raises(EncryptionRequired, match="TOKEN_ENCRYPTION_KEY"):
        token_cipher(settings)
    sandbox = load_settings({}, env_file=None)
    assert token_cipher(sandbox) is None


# -- scopes ----------------------------------------------------------------------------------


def test_connect_to_a_new_app_with_the_default_scopes(
    configured: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["connect"]) == 0
    assert capsys.readouterr().err == ""
    [row] = rows()
    assert granted_scopes(row) == DEFAULT_SCOPES  # what Xero granted is kept with the tokens
    assert deprecated_granted(row) == []


def test_connect_asking_a_new_app_for_accounting_transactions_fails_in_words(
    configured: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XERO_SCOPES", BROAD)
    get_settings.cache_clear()
    assert main(["connect"]) == 2
    out, err = capsys.readouterr()
    [line] = err.strip().splitlines()
    assert "Traceback" not in err and out == ""
    assert line.startswith("xerosync connect: Xero refused the scope accounting.transactions")
    assert "XERO_SCOPES" in line and "accounting.invoices" in line
    assert rows() == []


def test_a_custom_connection_asking_for_accounting_transactions_fails_in_words(
    configured: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XERO_SCOPES", BROAD)
    get_settings.cache_clear()
    assert main(["connect", "--client-credentials"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "accounting.transactions" in line and "XERO_SCOPES" in line
    assert "accounting.invoices" in line and rows() == []


def test_an_older_app_may_connect_with_accounting_transactions_and_its_calls_work(
    configured: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
) -> None:
    configured.control.config(app_created="2025-06-01")
    monkeypatch.setenv("XERO_SCOPES", BROAD)
    get_settings.cache_clear()
    assert main(["connect"]) == 0
    [warning] = capsys.readouterr().err.strip().splitlines()
    assert "accounting.transactions (use accounting.invoices)" in warning
    assert "September 2027" in warning and "XERO_SCOPES" in warning
    [row] = rows()
    assert deprecated_granted(row) == [("accounting.transactions", "accounting.invoices")]
    xero = build_client(
        get_settings(),
        tenant_id=row.tenant_id,
        store=DatabaseTokenStore(get_engine(), None),
        redis_client=redis.Redis.from_url(redis_url),
    )
    assert xero.get_all("Invoices") and xero.get_all("CreditNotes") and xero.get_all("Items")
    [made] = xero.save(
        "Invoices",
        [
            {
                "Type": "ACCREC",
                "Contact": {"Name": "Older App Customer"},
                "Status": "DRAFT",
                "LineItems": [
                    {"Description": "x", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}
                ],
            }
        ],
        method="PUT",
    )
    assert made.ok


def test_a_connection_without_accounting_invoices_records_the_scope_on_the_order(
    xerosync_env: XerosyncEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = xerosync_env
    monkeypatch.setenv(
        "XERO_SCOPES", "openid profile email offline_access accounting.contacts accounting.settings"
    )
    get_settings.cache_clear()
    assert main(["connect"]) == 0  # re-authorised, with fewer scopes
    with env.session() as session:
        order = Order(
            connection_id=env.connection_id,
            customer=Customer(connection_id=env.connection_id, name="Scope Pty Ltd"),
            currency="AUD",
            status=OrderStatus.CONFIRMED.value,
            confirmed_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
            lines=[
                OrderLine(
                    position=1,
                    description="Consulting",
                    quantity=Decimal(1),
                    unit_price=Decimal("100"),
                    account_code="200",
                    tax_type="OUTPUT",
                )
            ],
        )
        session.add(order)
        session.commit()
        order_id = order.id
    env.sandbox.control.clear_requests()
    result = jobs.invoice_order(order_id, settings=get_settings(), engine=env.engine)
    assert result.status == "failed", result
    invoice_calls = env.sandbox.control.requests(path="/api.xro/2.0/Invoices")
    assert [c["status"] for c in invoice_calls] == [403]  # refused once; no retry loop
    with env.session() as session:
        link = session.scalars(
            select(XeroLink).where(XeroLink.kind == "invoice", XeroLink.local_id == order_id)
        ).one()
        assert link.status == LinkStatus.ERROR.value
        assert link.last_error is not None
        assert "accounting.invoices" in link.last_error and "XERO_SCOPES" in link.last_error
