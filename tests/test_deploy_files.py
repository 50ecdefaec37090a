"""The Procfile and docker-compose.yml name commands that exist and a valid compose file."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from xerosync.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def test_procfile_runs_the_four_processes_and_the_sandbox() -> None:
    assert set(procfile()) == {
        "sandbox", "worker-invoices", "worker-sync", "beat", "flower", "webhooks"
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(procfile()))
def test_each_procfile_command_is_a_xerosync_command(name: str) -> None:
    argv = shlex.split(procfile()[name])
    assert argv[0] == "xerosync"
    args = build_parser().parse_args(argv[1:])
    assert callable(args.handler)


def test_docker_compose_is_accepted() -> None:
    compose = shutil.which("docker-compose")
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        command = [docker, "compose"]
    elif compose:
        command = [compose]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
        capture_output=True, text=True, cwd=ROOT,
    ).stdout.split()  # fmt: skip
    assert {
        "redis",
        "postgres",
        "sandbox",
        "worker-invoices",
        "worker-sync",
        "beat",
        "flower",
    } <= set(services)
