"""Every command fails in one line that names the problem and what to do, with a non-zero
exit and no traceback (unless `--traceback` or LOG_LEVEL=DEBUG asks for it).

The commands run as a user runs them: `python -m xerosync ...` in a process of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.xerosync import XerosyncEnv
from xerosync.cli import FIX_FIRST, UNREACHABLE
from xerosync.xero.crypto import TokenCipher

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def xerosync(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xerosync", *args],
        env={**os.environ, "LOG_LEVEL": "INFO", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The failure is one line on stderr, naming `words`; nothing on stdout; no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'xerosync.db'}"
    result = xerosync("db", "upgrade", env={"DATABASE_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return url


@pytest.mark.parametrize("command", [["status"], ["sync"], ["template", "Boom FM"]])
def test_unreachable_redis(command: list[str], migrated_sqlite: str, tmp_path: Path) -> None:
    redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    env = {"DATABASE_URL": migrated_sqlite, "REDIS_URL": redis_url}
    if command[0] == "template":  # it needs an organisation before it needs Redis
        env["XERO_BASE_URL"] = "http://127.0.0.1:9"
        _add_organisation(migrated_sqlite)
    line = assert_one_line(
        xerosync(*command, env=env, cwd=tmp_path), UNREACHABLE, "cannot reach Redis", redis_url
    )
    assert "REDIS_URL" in line


def test_unreachable_broker(migrated_sqlite: str, redis_url: str, tmp_path: Path) -> None:
    """Redis for the budget answers; the broker (another server here) does not."""
    broker = f"redis://127.0.0.1:{closed_port()}/0"
    env = {"DATABASE_URL": migrated_sqlite, "REDIS_URL": redis_url, "CELERY_BROKER_URL": broker}
    assert_one_line(
        xerosync("status", env=env, cwd=tmp_path),
        UNREACHABLE,
        "cannot reach the broker",
        "CELERY_BROKER_URL",
    )


@pytest.mark.parametrize("command", [["status"], ["sync"], ["errors"], ["db", "upgrade"]])
def test_unreachable_database(command: list[str], tmp_path: Path) -> None:
    url = f"postgresql+psycopg://xerosync:s3cret@127.0.0.1:{closed_port()}/xerosync"
    line = assert_one_line(
        xerosync(*command, env={"DATABASE_URL": url}, cwd=tmp_path),
        UNREACHABLE,
        "cannot reach the database",
        "DATABASE_URL",
    )
    assert "s3cret" not in line  # the password stays out of the message


@pytest.mark.parametrize("command", [["status"], ["sync"], ["errors"], ["connections"]])
def test_unmigrated_database(command: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert_one_line(
        xerosync(*command, env={"DATABASE_URL": f"sqlite:///{empty}"}, cwd=tmp_path),
        FIX_FIRST,
        "not at xerosync's schema",
        "run `xerosync db upgrade`",
    )


def test_a_bad_setting(tmp_path: Path) -> None:
    assert_one_line(
        xerosync("status", env={"SYNC_INTERVAL_SECONDS": "soon"}, cwd=tmp_path),
        FIX_FIRST,
        "SYNC_INTERVAL_SECONDS",
        "not valid",
    )


@pytest.mark.parametrize("command", [["sync"], ["template", "Boom FM"]])
def test_a_wrong_encryption_key(
    command: list[str], xerosync_env: XerosyncEnv, tmp_path: Path
) -> None:
    """The Demo Company's tokens were stored with another key (as after a key rotation that
    lost the old key)."""
    wrong = {"TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key()}
    assert_one_line(
        xerosync(*command, env=wrong, cwd=tmp_path),
        FIX_FIRST,
        "cannot be decrypted with TOKEN_ENCRYPTION_KEY",
        "connect the organisation again",
    )


def test_status_with_a_wrong_key_still_reports_and_names_it(
    xerosync_env: XerosyncEnv, tmp_path: Path
) -> None:
    wrong = {"TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key()}
    result = xerosync("status", "--wait", "0.2", env=wrong, cwd=tmp_path)
    assert result.returncode == 1
    assert "Demo Company" in result.stdout and "customers:" in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert "Demo Company" in line and "TOKEN_ENCRYPTION_KEY" in line


@pytest.mark.parametrize(
    ("args", "env"), [(["--traceback", "status"], {}), (["status"], {"LOG_LEVEL": "DEBUG"})]
)
def test_the_traceback_on_request(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    result = xerosync(*args, env={"DATABASE_URL": f"sqlite:///{empty}", **env}, cwd=tmp_path)
    assert result.returncode == FIX_FIRST
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("xerosync status: ")


def _add_organisation(url: str) -> None:
    from sqlalchemy.orm import Session

    from xerosync.db import make_engine
    from xerosync.models import Connection

    engine = make_engine(url)
    with Session(engine) as session:
        session.add(Connection(tenant_id="t-1", tenant_name="Org One", token_encrypted=False))
        session.commit()
    engine.dispose()
