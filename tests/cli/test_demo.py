"""`xerosync demo` runs the whole story through a real worker and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.cli import main

pytestmark = pytest.mark.integration


def test_demo_walks_through_every_step(
    xerosync_env: XerosyncEnv, celery_worker: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "workers answering" in out
    assert "Import the Demo Company" in out and "contacts:" in out
    assert "branding theme Special Projects" in out
    assert "default discount in the CRM: 5%" in out
    assert "Xero's item now sells at" in out
    assert "(DRAFT, ACCREC) in" in out and "Delivery: 1" in out
    assert "status 'D' (Xero: VOIDED)" in out
    assert "demo complete" in out


def test_demo_refuses_without_a_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from xerosync.settings import get_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XERO_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    get_settings.cache_clear()
    try:
        assert main(["demo"]) == 2
    finally:
        get_settings.cache_clear()
    assert "no sandbox answers" in capsys.readouterr().err
