from pathlib import Path

import pytest

from xerosync.settings import (
    _SPEC,
    SANDBOX_URL,
    SettingsError,
    get_settings,
    load_settings,
    settings_warnings,
)
from xerosync.xero.auth import DEFAULT_SCOPES


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.DATABASE_URL.startswith("sqlite:///")
    assert settings.REDIS_URL == "redis://127.0.0.1:6379/0"
    assert settings.XERO_BASE_URL == SANDBOX_URL
    assert settings.uses_sandbox
    assert settings.xero_api_url == f"{SANDBOX_URL}/api.xro/2.0"


def test_empty_fallbacks_follow_their_source() -> None:
    settings = load_settings(
        {"REDIS_URL": "redis://cache:6380/2", "XERO_BASE_URL": "https://api.xero.com/"},
        env_file=None,
    )
    assert settings.CELERY_BROKER_URL == "redis://cache:6380/2"
    assert settings.XERO_IDENTITY_URL == "https://api.xero.com"
    assert not settings.uses_sandbox


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("SYNC_INTERVAL_SECONDS", "soon"),
        ("SYNC_INTERVAL_SECONDS", "0"),
        ("SANDBOX_PORT", "70000"),
        ("INVOICE_RESERVED_SHARE", "1.5"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_bad_setting_is_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^setting {name}="):
        load_settings({name: value}, env_file=None)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SYNC_INTERVAL_SECONDS=120\nFLOWER_USER=ops\n")
    settings = load_settings({"FLOWER_USER": "root"}, env_file=env_file)
    assert settings.SYNC_INTERVAL_SECONDS == 120
    assert settings.FLOWER_USER == "root"


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    listed = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert listed == set(load_settings({}, env_file=None).as_dict())


def test_env_example_shows_every_default() -> None:
    """Each value in .env.example is what xerosync uses when the setting is not set."""
    example = Path(__file__).resolve().parent.parent / ".env.example"
    shown = dict(
        line.split("=", 1)
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert shown == {name: default or "" for name, (_, default) in _SPEC.items()}
    assert shown["XERO_SCOPES"] == " ".join(DEFAULT_SCOPES)


def test_the_default_scopes_are_granular() -> None:
    scopes = load_settings({}, env_file=None).XERO_SCOPES.split()
    assert "accounting.transactions" not in scopes
    assert {"accounting.contacts", "accounting.settings", "accounting.invoices"} <= set(scopes)
    assert settings_warnings(load_settings({}, env_file=None)) == []


@pytest.mark.parametrize(
    ("scope", "replacement"),
    [
        ("accounting.transactions", "use accounting.invoices"),
        ("accounting.transactions.read", "use accounting.invoices.read"),
        ("accounting.reports.read", "remove it"),
    ],
)
def test_a_deprecated_scope_is_named_at_worker_start(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    scope: str,
    replacement: str,
) -> None:
    from xerosync.app import _check_settings  # the Celery app's worker start-up hook

    monkeypatch.setenv("XERO_SCOPES", f"openid offline_access accounting.contacts {scope}")
    get_settings.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            _check_settings()
    finally:
        get_settings.cache_clear()
    [record] = [r for r in caplog.records if r.levelname == "WARNING"]
    line = record.getMessage()
    assert f"{scope} ({replacement}" in line and "XERO_SCOPES" in line and "\n" not in line


def test_a_deprecated_scope_is_named_when_a_command_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from xerosync import migrate
    from xerosync.cli import main

    monkeypatch.chdir(tmp_path)
    database = f"sqlite:///{tmp_path}/x.db"
    migrate.upgrade(database)
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("XERO_SCOPES", "openid offline_access accounting.transactions")
    get_settings.cache_clear()
    try:
        assert main(["connections"]) == 0
    finally:
        get_settings.cache_clear()
    [line] = [r.getMessage() for r in caplog.records if r.name == "xerosync.settings"]
    assert "accounting.transactions (use accounting.invoices)" in line and "XERO_SCOPES" in line
