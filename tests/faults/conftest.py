"""The fault-injection suite's world: its own Redis server, a database every process shares,
a sandbox of its own with room in its limits, the Demo Company connected, and real workers.

Nothing here is shared with the rest of the test run: the Redis server is started on its own
port (and restarted by the test), the database is created for the test and dropped after.
The sandbox is a process of the test's own, never used before: each test boots the next
test's (`_SpareSandbox`) while it runs, since the boot takes seconds. A finished test's
workers and sandbox are killed, not shut down warmly: what the test asserts is settled by
then, and a warm shutdown took seconds a process.
The broker is that Redis, or (the `rabbitmq` param of tests marked `both_brokers`) a
RabbitMQ virtual host of the test's own on the machine's RabbitMQ, which is never stopped:
its outage is every connection to the vhost closed by the server (`FaultBroker.outage`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from celeryconfig import SYNC_QUEUE
from tests.faults.processes import RedisServer, SandboxServer, Worker, free_port
from tests.fixtures.brokers import RabbitVhost, rabbitmq_vhost
from tests.fixtures.celery import point_app_at
from tests.fixtures.database import fresh_postgres_database, postgres_available
from xerosync.cli import main
from xerosync.db import make_engine
from xerosync.models import Base, Connection
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sandbox.control import SandboxControl
from xerosync.settings import Settings, get_settings
from xerosync.sync import outbox
from xerosync.xero.crypto import TokenCipher

outbox.install()

# Room enough that Xero's limits are never what the suite measures (faults are).
SANDBOX_LIMITS = {
    "minute_limit": 100_000,
    "day_limit": 1_000_000,
    "concurrent_limit": 64,
    "app_minute_limit": 1_000_000,
}
VISIBILITY_TIMEOUT = 15
"""Seconds before a killed worker's unacknowledged task is delivered again."""
XERO_TIMEOUT = 2.5
"""Seconds before a call is given up: slow faults longer than this become timeouts."""


@dataclass
class FaultBroker:
    """The broker the workers use: the suite's Redis server, or a RabbitMQ vhost."""

    redis: RedisServer
    vhost: RabbitVhost | None = None

    @property
    def kind(self) -> str:
        return "redis" if self.vhost is None else "rabbitmq"

    @property
    def url(self) -> str:
        return self.redis.url if self.vhost is None else self.vhost.url

    def backlog(self) -> int:
        """Messages still queued or delivered-but-unacknowledged (-1: the broker is away)."""
        if self.vhost is not None:
            try:
                depths = self.vhost.queue_depths()
            except Exception:
                return -1
            return sum(depths.get(q, 0) for q in ("invoices", "sync"))
        client = redis.Redis.from_url(self.redis.url, socket_timeout=2)
        try:
            return int(client.llen("invoices") + client.llen("sync") + client.hlen("unacked"))
        except redis.RedisError:
            return -1
        finally:
            client.close()

    def outage(self) -> None:
        """RabbitMQ only: the server closes every connection to the vhost (workers, senders).

        Queued tasks survive (durable queues); delivered, unacknowledged ones go back on
        their queue at once, and the workers reconnect."""
        assert self.vhost is not None
        self.vhost.close_connections("xerosync fault suite: broker outage")


@dataclass
class FaultEnv:
    workdir: Path
    redis: RedisServer
    sandbox: SandboxServer
    control: SandboxControl
    database_url: str
    engine: Engine
    connection_id: int
    worker_env: dict[str, str]
    broker: FaultBroker
    workers: list[Worker] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return get_settings()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def start_worker(self, name: str, queues: str, concurrency: int = 2) -> Worker:
        worker = Worker(name, queues, self.worker_env, self.workdir, concurrency=concurrency)
        self.workers.append(worker)
        return worker

    def worker_logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log_tail()}" for w in self.workers)

    def log_paths(self) -> list[Path]:
        """Every worker's whole log, the killed and the stopped ones included."""
        return [w.log_path for w in self.workers]

    def served_429s(self) -> int:
        """429s the sandbox's rate limiter served (injected faults are not counted).

        Raises if the sandbox's request log no longer starts at the run's first request."""
        log = self.control.requests()
        if log and log[0]["seq"] != 1:
            raise AssertionError(f"the sandbox's request log lost its first {log[0]['seq'] - 1}")
        return sum(1 for r in log if r["status"] == 429 and not r.get("fault"))


@contextlib.contextmanager
def _database(workdir: Path) -> Iterator[str]:
    """PostgreSQL when it answers (the production-like case), else a SQLite file."""
    if postgres_available():
        with fresh_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{workdir / 'xerosync.db'}"


@contextlib.contextmanager
def _broker(app: Celery, url: str) -> Iterator[None]:
    """Send this process's `.delay()` calls to the suite's own broker."""
    previous = app.conf.broker_url
    point_app_at(app, url)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            app.close()
        point_app_at(app, previous)


@contextlib.contextmanager
def _vhost(kind: str) -> Iterator[RabbitVhost | None]:
    if kind == "rabbitmq":
        with rabbitmq_vhost() as vhost:
            yield vhost
    else:
        yield None


class _SpareSandbox:
    """One sandbox process booted ahead of the test that will use it (one per xdist worker).

    It has served nothing when it is taken: a test still gets a sandbox of its own."""

    def __init__(self) -> None:
        self._spare: SandboxServer | None = None
        self._workdir: str | None = None

    def take(self, workdir: Path, env: dict[str, str]) -> SandboxServer:
        spare, self._spare = self._spare, None
        if spare is not None and spare.alive():
            return spare
        if spare is not None:
            spare.kill()
        return SandboxServer(workdir, env)

    def boot_next(self, env: dict[str, str]) -> None:
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="xerosync-spare-sandbox-")  # no .env
        self._spare = SandboxServer(Path(tempfile.mkdtemp(dir=self._workdir)), env)

    def close(self) -> None:
        if self._spare is not None:
            self._spare.kill()
            self._spare = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


_SPARE_SANDBOX = _SpareSandbox()
atexit.register(_SPARE_SANDBOX.close)


def kill_all(processes: list[Worker] | list[SandboxServer]) -> None:
    """SIGKILL each process group (a worker with its pool children), all at once."""
    threads = [threading.Thread(target=process.kill) for process in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def stop_all(workers: list[Worker]) -> None:
    """Stop the workers at once: each warm shutdown takes seconds (more on RabbitMQ)."""
    threads = [threading.Thread(target=worker.stop) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt("SIGTERM")


KEEP_FIRST_IMPORT = "first_import"
"""Marks a test whose scenario runs alongside the first import `xerosync connect` queues,
as a new organisation's first minutes do (the fault suite: its customer changes overlap the
import's writes and its first push)."""


def drop_queued_first_import() -> None:
    """`xerosync connect` queues a new organisation's first import; the path tests run their
    own passes and count them, so it is dropped unless the test is marked `first_import`."""
    from xerosync.app import app

    # A queue not declared yet holds nothing (RabbitMQ refuses to purge it).
    with app.connection_for_write() as connection, contextlib.suppress(Exception):
        connection.default_channel.queue_purge(SYNC_QUEUE)


@pytest.fixture
def fault_env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    broker_kind: str,
    request: pytest.FixtureRequest,
) -> Iterator[FaultEnv]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    # A terminated run still stops the processes it started (teardown runs on interrupt).
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    from xerosync import tasks  # noqa: F401 - registers the tasks
    from xerosync.app import app

    environ = dict(os.environ)  # before the test's settings below
    server = RedisServer(tmp_path)
    sandbox = _SPARE_SANDBOX.take(tmp_path, environ)
    env_object: FaultEnv | None = None
    try:
        server.start()
        with (
            _database(tmp_path) as database_url,
            _vhost(broker_kind) as vhost,
            contextlib.ExitStack() as stack,
        ):
            sandbox.wait_ready()  # booting meanwhile
            control = SandboxControl(sandbox.url)
            control.config(**SANDBOX_LIMITS)
            broker = FaultBroker(server, vhost)
            stack.enter_context(_broker(app, broker.url))
            values = {
                "DATABASE_URL": database_url,
                "REDIS_URL": server.url,
                "CELERY_BROKER_URL": broker.url,
                "BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
                "XERO_BASE_URL": sandbox.url,
                "XERO_REDIRECT_URI": f"http://localhost:{free_port()}/callback",
                "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
                "XERO_MINUTE_LIMIT": str(SANDBOX_LIMITS["minute_limit"]),
                "XERO_DAY_LIMIT": str(SANDBOX_LIMITS["day_limit"]),
                "XERO_CONCURRENT_LIMIT": str(SANDBOX_LIMITS["concurrent_limit"]),
                "XERO_TIMEOUT_SECONDS": str(XERO_TIMEOUT),
                "LOG_LEVEL": "INFO",
                "SENTRY_DSN": "",
            }
            for name, value in values.items():
                monkeypatch.setenv(name, value)
            get_settings.cache_clear()
            engine = make_engine(database_url)
            Base.metadata.create_all(engine)
            assert main(["connect"]) == 0
            if request.node.get_closest_marker(KEEP_FIRST_IMPORT) is None:
                drop_queued_first_import()
            template_id = next(
                c["ContactID"]
                for c in control.records("Contacts", DEMO_TENANT_ID)
                if c["Name"] == "Template Ledger"
            )
            with Session(engine) as session:
                connection = session.query(Connection).one()
                connection.template_contact_id = str(template_id)
                session.commit()
                connection_id = connection.id
            worker_env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
                **values,
            }
            env_object = FaultEnv(
                tmp_path, server, sandbox, control, database_url, engine, connection_id,
                worker_env, broker,
            )  # fmt: skip
            _SPARE_SANDBOX.boot_next(environ)
            try:
                yield env_object
            finally:
                kill_all(env_object.workers)
                engine.dispose()
                from xerosync.db import engine_for

                with contextlib.suppress(Exception):
                    engine_for(database_url).dispose()
    finally:
        server.stop()
        sandbox.kill()
        get_settings.cache_clear()
        signal.signal(signal.SIGTERM, previous_handler)
