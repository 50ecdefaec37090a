"""Which key the receiver checks signatures with, and the one line when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

from xerosync.cli import main
from xerosync.sandbox import WEBHOOK_KEY
from xerosync.settings import load_settings
from xerosync.webhooks.server import WebhooksNotConfigured, build_receiver


def test_against_the_sandbox_the_receiver_checks_the_sandboxs_key() -> None:
    settings = load_settings(environ={}, env_file=None)
    assert build_receiver(settings).key == WEBHOOK_KEY


def test_the_configured_key_wins() -> None:
    settings = load_settings(environ={"XERO_WEBHOOK_KEY": "from-the-portal"}, env_file=None)
    assert build_receiver(settings).key == "from-the-portal"


def test_against_xero_without_a_key_it_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    xero = {
        "XERO_BASE_URL": "https://api.xero.com",
        "XERO_IDENTITY_URL": "https://identity.xero.com",
    }
    with pytest.raises(WebhooksNotConfigured, match="XERO_WEBHOOK_KEY is not set"):
        build_receiver(load_settings(environ=xero, env_file=None))

    from xerosync.settings import get_settings

    for name, value in xero.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("XERO_WEBHOOK_KEY", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["webhooks"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "XERO_WEBHOOK_KEY is not set" in err[0]
