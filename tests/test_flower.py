"""`xerosync flower`: basic auth from the environment, never on the command line, and no
default password outside the sandbox. The started process is inspected the way another local
user would (`/proc/<pid>/cmdline`, what `ps` prints)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import free_port
from xerosync.cli import CommandError
from xerosync.cli.services import (
    DEFAULT_FLOWER_PASSWORD,
    check_flower_credentials,
    flower_argv,
    flower_env,
)
from xerosync.settings import load_settings

VENV_BIN = Path(sys.executable).parent
PASSWORD = "flower-pa55-only-in-the-environment"


def test_the_default_password_is_flower_passwords_default() -> None:
    assert load_settings({}, env_file=None).FLOWER_PASSWORD == DEFAULT_FLOWER_PASSWORD


def test_flowers_command_line_holds_no_credentials() -> None:
    settings = load_settings({"FLOWER_PASSWORD": PASSWORD}, env_file=None)
    assert not any(PASSWORD in arg or "auth" in arg for arg in flower_argv())
    env = flower_env(settings, environ={})
    assert env["FLOWER_BASIC_AUTH"] == f"admin:{PASSWORD}"
    assert env["FLOWER_ADDRESS"] == "127.0.0.1"
    assert env["FLOWER_PORT"] == "5555"
    assert "args" in env["FLOWER_TASKS_COLUMNS"] and "exception" in env["FLOWER_TASKS_COLUMNS"]
    compose = flower_env(settings, environ={"FLOWER_ADDRESS": "0.0.0.0"})
    assert compose["FLOWER_ADDRESS"] == "0.0.0.0"


def test_the_default_password_is_fine_against_the_sandbox_only() -> None:
    check_flower_credentials(load_settings({}, env_file=None))
    xero = load_settings({"XERO_BASE_URL": "https://api.xero.com"}, env_file=None)
    with pytest.raises(CommandError, match="FLOWER_PASSWORD"):
        check_flower_credentials(xero)
    check_flower_credentials(
        load_settings(
            {"XERO_BASE_URL": "https://api.xero.com", "FLOWER_PASSWORD": PASSWORD}, env_file=None
        )
    )
    with pytest.raises(CommandError, match="comma"):
        check_flower_credentials(load_settings({"FLOWER_PASSWORD": "a,b"}, env_file=None))


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWER_", "XERO_"))}
    return {**env, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", **extra}


def test_xerosync_refuses_to_start_flower_with_the_default_password_against_xero(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "xerosync"), "flower"],
        env=_clean_env(tmp_path, XERO_BASE_URL="https://api.xero.com"),
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "FLOWER_PASSWORD" in lines[0], done.stderr


def _tree(pid: int) -> list[int]:
    """The process and all its descendants (Flower's, if it ever forks)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(_tree(int(child)))
    return found


@pytest.fixture
def flower(tmp_path: Path, redis_url: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = _clean_env(
        tmp_path,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        FLOWER_PORT=str(port),
        FLOWER_PASSWORD=PASSWORD,
    )
    with open(tmp_path / "flower.log", "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "xerosync"), "flower"], env=env, cwd=tmp_path,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:

        def answers() -> bool:
            """Flower answers HTTP"""
            try:
                return requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code > 0
            except requests.ConnectionError:
                assert process.poll() is None, (tmp_path / "flower.log").read_text()
                return False

        eventually(answers, timeout=60, every=0.2)
        yield process, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.mark.integration
def test_a_started_flower_takes_its_password_from_the_environment_not_its_command_line(
    flower: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = flower
    url = f"http://127.0.0.1:{port}/api/workers"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=("admin", DEFAULT_FLOWER_PASSWORD), timeout=5).status_code == 401
    assert requests.get(url, auth=("admin", PASSWORD), timeout=5).status_code == 200

    for pid in _tree(process.pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "flower" in cmdline or pid != process.pid
        assert PASSWORD not in cmdline, cmdline
        assert "basic-auth" not in cmdline, cmdline
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert PASSWORD not in ps
    # Where it is instead: the environment, which only the process's own user may read.
    environ = Path(f"/proc/{process.pid}/environ")
    assert f"FLOWER_BASIC_AUTH=admin:{PASSWORD}".encode() in environ.read_bytes()
    assert stat.S_IMODE(environ.stat().st_mode) & 0o077 == 0
