"""Shared plumbing for the benches (not a bench itself; `make bench` skips it).

Everything a bench needs around xerosync, all on 127.0.0.1 and all cleaned up afterwards:
the sandbox as a separate process (its memory never counts in the process being measured), a
fresh database (SQLite file or a PostgreSQL database created for the run and dropped after),
a Redis database number of the bench's own (flushed before and after), the environment that
points xerosync at all three, and the organisation connected with `xerosync connect` and its
template ledger nominated with `xerosync template`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from xerosync.db import make_engine
from xerosync.sandbox.control import SandboxControl

PYTHON = sys.executable
API_PREFIX = "/api.xro/2.0/"
PG_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Tests use 0 (make run), 11-13; budget.py uses 12. Ours:
DEFAULT_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "7"))


def exit_cleanly_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so every `finally` (stop processes, drop the database,
    flush Redis) still runs when a bench is stopped."""

    def _raise(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


def peak_rss_of(pid: int) -> float:
    """Another process's peak RSS so far (VmHWM), in MiB; 0 if it is gone."""
    return _status_mb("VmHWM", pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the process group `proc` leads, then SIGKILL what is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait(timeout=timeout)


def spawn(
    argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path
) -> subprocess.Popen[Any]:
    """A child process in a new process group (so it and its children stop together)."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        handle.close()


@dataclass
class SandboxProcess:
    url: str
    control: SandboxControl
    proc: subprocess.Popen[Any]


@contextmanager
def sandbox_process(workdir: Path) -> Iterator[SandboxProcess]:
    """`xerosync sandbox --port N` as a child process; stopped when the block ends."""
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    proc = spawn(
        [PYTHON, "-m", "xerosync", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        env,
        workdir / "sandbox.log",
        workdir,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/_sandbox/config", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the sandbox did not start; see {workdir / 'sandbox.log'}"
                    ) from None
                time.sleep(0.1)
        yield SandboxProcess(url, SandboxControl(url, timeout=600), proc)
    finally:
        stop_group(proc)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """URL of a new, empty database: a SQLite file in `workdir`, or a PostgreSQL database
    created for the run and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'xerosync.db'}"
        return
    if kind != "postgres":
        raise ValueError(f"database kind is sqlite or postgres, not {kind!r}")
    name = f"xerosync_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_database(number: int = DEFAULT_REDIS_DB) -> Iterator[str]:
    """URL of a Redis database of the bench's own, flushed before and after."""
    if number in (0, 11, 12, 13):
        raise ValueError(f"Redis DB {number} belongs to `make run` or the tests; pick another")
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
    url = f"{url}/{number}"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    try:
        yield url
    finally:
        conn.flushdb()
        conn.close()


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as path:
        yield Path(path)


def xerosync_environment(
    *, database_url: str, redis_url: str, sandbox_url: str, **extra: Any
) -> dict[str, str]:
    """The process environment that points xerosync at the bench's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XERO_", "SENTRY_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": "",
            "XERO_BASE_URL": sandbox_url,
            "XERO_REDIRECT_URI": f"http://localhost:{free_port()}/callback",
            "SENTRY_DSN": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def same_limits(
    control: Any,
    *,
    database_url: str,
    redis_url: str,
    minute_limit: int,
    day_limit: int,
    concurrent_limit: int,
    minute_seconds: float,
    **extra: Any,
) -> dict[str, str]:
    """Reset the sandbox to the demo organisation with these (time-scaled) limits, and the
    environment that gives xerosync the same ones: Xero and its client agree, as in
    production, so a 429 is the client's fault."""
    control.reset("demo")
    control.config(
        minute_limit=minute_limit,
        day_limit=day_limit,
        concurrent_limit=concurrent_limit,
        minute_seconds=minute_seconds,
        day_seconds=max(86400.0, minute_seconds * 1440),
        latency_ms=0,
    )
    return xerosync_environment(
        database_url=database_url,
        redis_url=redis_url,
        sandbox_url=control.url,
        XERO_MINUTE_LIMIT=minute_limit,
        XERO_DAY_LIMIT=day_limit,
        XERO_CONCURRENT_LIMIT=concurrent_limit,
        XERO_MINUTE_SECONDS=minute_seconds,
        **extra,
    )


def xerosync_cli(env: Mapping[str, str], cwd: Path, *args: str) -> str:
    """Run `xerosync ARGS` in a child process; its output, or an error naming the command."""
    done = subprocess.run(
        [PYTHON, "-m", "xerosync", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"xerosync {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout


def set_up_organisation(env: Mapping[str, str], cwd: Path) -> int:
    """Schema, `xerosync connect` (the sandbox approves at once) and the template ledger."""
    xerosync_cli(env, cwd, "db", "upgrade")
    xerosync_cli(env, cwd, "connect")
    xerosync_cli(env, cwd, "template", "Template Ledger")
    engine = make_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT id FROM connections ORDER BY id")).scalar_one())
    finally:
        engine.dispose()


def _status_mb(field: str, pid: int | str = "self") -> float:
    """A memory line of /proc/PID/status in MiB (the kernel reports KiB); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    VmHWM, not `getrusage().ru_maxrss`: Linux carries ru_maxrss across fork and exec, so a
    child started by a parent that once held a lot reports the parent's peak as its own
    (the import bench's parent holds every generated invoice to count them). VmHWM belongs
    to the address space, which exec replaces."""
    return _status_mb("VmHWM")


def current_rss_mb() -> float:
    return _status_mb("VmRSS")


def api_calls(log: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Accounting API calls from the sandbox's request log (no identity, no control)."""
    return [e for e in log if str(e["path"]).startswith(API_PREFIX)]


def resource_of(entry: Mapping[str, Any]) -> str:
    """`Contacts`, `Invoices`, … from a logged path (`/api.xro/2.0/Contacts/abc` → Contacts)."""
    return str(entry["path"])[len(API_PREFIX) :].split("/", 1)[0]


def call_table(log: Sequence[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    """(method, resource) → number of accounting calls."""
    return Counter((str(e["method"]), resource_of(e)) for e in api_calls(log))


def format_calls(table: Counter[tuple[str, str]]) -> str:
    return ", ".join(f"{m} {r}: {n}" for (m, r), n in sorted(table.items())) or "none"


def served_429s(log: Sequence[Mapping[str, Any]]) -> int:
    """429s the sandbox's rate limiter served (an injected fault is not one), from its log."""
    return sum(1 for e in api_calls(log) if e["status"] == 429 and not e.get("fault"))


def print_429s(log: Sequence[Mapping[str, Any]], indent: str = "  ") -> int:
    """Every bench that calls the sandbox says how many 429s it served (target: 0)."""
    count = served_429s(log)
    print(f"{indent}429s served by the sandbox: {count} (target: 0) -> {verdict(count == 0)}")
    return count


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Point this process (the "CRM": it saves rows and calls .delay()) at the bench's
    services for the block; the previous environment and settings come back after."""
    from xerosync.settings import get_settings

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def wait_for_workers(app: Any, count: int, procs: Sequence[Any], timeout: float = 60.0) -> None:
    """Until `count` Celery workers answer a ping (a worker that exits first is an error)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker process exited during start-up; see its log")
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
    raise RuntimeError(f"{count} workers did not answer a ping within {timeout:g}s")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def quotes_for_imported_customers(
    session: Any, connection_id: int, count: int, rng: Any, label: str
) -> list[Any]:
    """`count` one-line AUD quotes of customers Xero already has (the first pass imported
    them), added to `session`, not committed."""
    from sqlalchemy import select

    from xerosync.models import Customer, LinkStatus, Order, OrderLine, XeroLink

    synced = list(
        session.scalars(
            select(Customer.id)
            .join(XeroLink, XeroLink.local_id == Customer.id)
            .where(
                XeroLink.kind == "contact",
                XeroLink.status == LinkStatus.SYNCED.value,
                Customer.is_active.is_(True),
                (Customer.default_currency.is_(None)) | (Customer.default_currency == "AUD"),
            )
        )
    )
    if not synced:
        raise RuntimeError("the first pass imported no active AUD customer to take orders")
    orders = [
        Order(
            connection_id=connection_id,
            customer_id=rng.choice(synced),
            currency="AUD",
            customer_reference=f"{label.upper()}-{n:04d}",
            lines=[
                OrderLine(
                    position=1,
                    description=f"{label.capitalize()} goods {n}",
                    quantity=1 + n % 3,
                    unit_price=25 + n % 40,
                    account_code="200",
                    tax_type="OUTPUT",
                )
            ],
        )
        for n in range(count)
    ]
    session.add_all(orders)
    return orders
