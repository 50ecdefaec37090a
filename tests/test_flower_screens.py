"""Flower's task list as a person sees it, in headless Chromium: the record Xero rejected is
there, failed, named, with Xero's words (`scripts/flower-screenshot` does the work)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium to look at Flower with (apt-get install chromium)",
    ),
]


def test_flowers_failed_tasks_show_the_rejected_customer_with_xeros_words(
    redis_url: str, tmp_path: Path
) -> None:
    shot = tmp_path / "flower.png"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "flower-screenshot"), str(shot)],
        env={**os.environ, "REDIS_URL": redis_url}, cwd=tmp_path,
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = shot.with_suffix(".html").read_text()
    assert "FAILURE" in page and "Email address must be valid." in page
    assert "RecordRejected" in page
    assert "customer #" in page
