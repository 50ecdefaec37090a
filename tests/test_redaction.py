"""Secrets out of text, out of the Settings' repr, and out of `xerosync connect`'s DEBUG log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.sandbox import Sandbox
from tests.fixtures.xerosync import free_port
from xerosync import redaction
from xerosync.observability import before_send
from xerosync.settings import load_settings
from xerosync.tasks import RecordRejected
from xerosync.xero.crypto import TokenCipher
from xerosync.xero.errors import ServerError

VENV_BIN = Path(sys.executable).parent
F = redaction.FILTERED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://xerosync:pa55word@db:5432/x", f"postgresql://xerosync:{F}@db:5432/x"),
        ("redis://:r3dis-pw@cache:6379/0 is down", f"redis://:{F}@cache:6379/0 is down"),
        ("amqp://u:p%40ss@mq//", f"amqp://u:{F}@mq//"),
        ("/callback?code=abc-123&state=Zy9_x&scope=a", f"/callback?code={F}&state={F}&scope=a"),
        ("grant_type=authorization_code&code=XYZ&b=", f"grant_type=authorization_code&code={F}&b="),
        ("http://127.0.0.1:8765/a status_code=200", "http://127.0.0.1:8765/a status_code=200"),
        ("error_code=4 zip_code=2000", "error_code=4 zip_code=2000"),
    ],
)  # fmt: skip
def test_scrub_text_masks_url_passwords_and_oauth_query_values(text: str, expected: str) -> None:
    assert redaction.scrub_text(text) == expected


def test_settings_render_every_secret_masked() -> None:
    secrets = {
        "XERO_CLIENT_SECRET": "client-secret-value-1",
        "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "FLOWER_PASSWORD": "flower-password-value-2",
        "SANDBOX_CLIENT_SECRET": "sandbox-secret-value-3",
        "SENTRY_DSN": "https://dsnpublickey123@o1.ingest.sentry.io/42",
        "DATABASE_URL": "postgresql://xerosync:db-password-4@db:5432/xerosync",
        "REDIS_URL": "redis://:redis-password-5@cache:6379/0",
        "CELERY_BROKER_URL": "amqp://mq:broker-password-6@mq:5672//",
    }
    settings = load_settings(secrets, env_file=None)
    for shown in (repr(settings), str(settings), f"{settings}", f"{[settings]}"):
        for value in ("client-secret-value-1", secrets["TOKEN_ENCRYPTION_KEY"],
                      "flower-password-value-2", "sandbox-secret-value-3", "dsnpublickey123",
                      "db-password-4", "redis-password-5", "broker-password-6"):  # fmt: skip
            assert value not in shown
    shown = repr(settings)
    assert "postgresql://xerosync:[Filtered]@db:5432/xerosync" in shown
    assert "https://[Filtered]@o1.ingest.sentry.io/42" in shown
    assert "XERO_CLIENT_ID='sandbox-client'" in shown  # what is not secret stays readable
    assert secrets["DATABASE_URL"] == settings.DATABASE_URL  # the values themselves are whole


def test_a_setting_added_later_with_a_secret_name_is_masked_too() -> None:
    for name in ("XERO_WEBHOOK_KEY", "SOME_API_TOKEN", "SMTP_PASSWORD", "OTHER_SECRET"):
        assert redaction.mask_setting(name, "value") == F
    assert redaction.mask_setting("XERO_CLIENT_ID", "abc") == "abc"


def test_before_send_drops_a_record_xero_rejected_and_keeps_a_crash() -> None:
    def hint(exc: BaseException) -> dict[str, object]:
        return {"exc_info": (type(exc), exc, None)}

    rejected = RecordRejected("customer #1: EmailAddress: Email address must be valid.")
    assert before_send({"message": "x"}, hint(rejected)) is None
    outage = ServerError("Xero is down", status=503)
    assert before_send({"message": "x"}, hint(outage)) == {"message": "x"}
    assert before_send({"message": "no exception"}, {}) == {"message": "no exception"}


@pytest.mark.integration
def test_connect_at_debug_logs_neither_the_authorization_code_nor_the_state(
    sandbox: Sandbox, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("XERO_")},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "XERO_BASE_URL": sandbox.url,
        "XERO_REDIRECT_URI": f"http://localhost:{free_port()}/callback",
        "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
        "LOG_LEVEL": "DEBUG",
    }
    sandbox.control.clear_requests()
    done = subprocess.run(
        [str(VENV_BIN / "xerosync"), "connect"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    log = done.stdout + done.stderr
    assert "DEBUG" in log and "/callback" in log, log  # DEBUG is on, the redirect was logged
    [authorize] = sandbox.control.requests(path="/identity/connect/authorize")
    [state] = authorize["query"]["state"]
    assert state not in log
    assert not re.search(r"\b(code|state)=(?!\[Filtered\])", log), log
    assert "supplied state" not in log  # requests-oauthlib's DEBUG line
