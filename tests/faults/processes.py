"""Processes the fault-injection suite starts and kills: its own Redis and Celery workers.

Every process gets a session (process group) of its own, so killing it takes its children
(a prefork worker's pool) too, and `stop()` always ends in SIGKILL after a bounded wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import redis
import requests

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the leader (a worker's warm shutdown), wait up to `grace` s, SIGKILL the group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children of a worker may outlive their parent: the group goes in any case.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group at once: no goodbye, no acknowledgement."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


class RedisServer:
    """A throwaway redis-server on its own port, with no persistence (a restart loses all)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.workdir / f"redis-{self.restarts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, grace=5)
            self.process = None

    def restart(self, down_for: float = 1.0) -> None:
        """Stop the server (everything in it is gone), stay down a moment, start afresh."""
        self.stop()
        time.sleep(down_for)
        self.restarts += 1
        self.start()


class Worker:
    """One `celery worker` process (prefork pool) with the suite's environment."""

    def __init__(
        self,
        name: str,
        queues: str,
        env: Mapping[str, str],
        workdir: Path,
        *,
        concurrency: int = 2,
    ) -> None:
        self.name = name
        self.log_path = workdir / f"worker-{name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "celery"),
                "-A",
                "xerosync.app",
                "worker",
                "--queues",
                queues,
                "--hostname",
                f"{name}@faults",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env=dict(env),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        kill_group(self.process)

    def stop(self) -> None:
        stop_group(self.process, grace=15)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class SandboxServer:
    """`xerosync sandbox` in a process of its own (its own interpreter: no shared GIL)."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(workdir / "sandbox.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(VENV_BIN / "xerosync"),
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env={**env, "LOG_LEVEL": "WARNING"},
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/_sandbox/config", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the sandbox on port {self.port} did not start")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        stop_group(self.process, grace=5)

    def kill(self) -> None:
        """SIGKILL at once: nothing of a finished test's sandbox is worth a shutdown."""
        kill_group(self.process)
