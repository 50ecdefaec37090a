"""Connecting organisations: custom connections, listing, disconnecting, encryption at rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.fixtures.sandbox import Sandbox
from tests.fixtures.xerosync import free_port
from xerosync.cli import main
from xerosync.connections import EncryptionRequired, token_cipher
from xerosync.db import get_engine
from xerosync.models import Connection
from xerosync.settings import get_settings, load_settings

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
