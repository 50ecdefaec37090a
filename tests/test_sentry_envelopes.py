"""What a real worker process sends to Sentry: no secret, and no event for a record Xero refused.

A tiny HTTP sink on a loopback port plays Sentry (`SENTRY_DSN=http://key@127.0.0.1:<port>/1`)
and keeps every envelope it is sent. A prefork `celery worker` with xerosync's app (Sentry
started by `celeryd_init`, as in production) first runs a push Xero rejects for its data, then
a task that crashes with the Settings object in its frame locals. Every envelope is then
searched for every secret value the worker's settings hold.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy.engine import make_url

from tests.fixtures.waiting import eventually
from tests.fixtures.xerosync import XerosyncEnv
from xerosync.models import Customer, LinkKind, LinkStatus, XeroLink

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

VENV_BIN = Path(sys.executable).parent
DSN_KEY = "d5nk3y0f7h1spr0j3c7"
FLOWER_PASSWORD = "fl0wer-pa55-NOT-default"
CLIENT_SECRET = "cl13nt-s3cr3t-of-the-worker"
SANDBOX_SECRET = "sandb0x-cl13nt-s3cr3t-9"
DB_PASSWORD = "db-pa55w0rd-in-the-url"


class Sink(http.server.ThreadingHTTPServer):
    """Sentry's ingest endpoint, keeping each envelope (decompressed) and its headers."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.envelopes: list[bytes] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def text(self) -> str:
        with self.lock:
            return "\n".join(e.decode("utf-8", errors="replace") for e in self.envelopes)


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            import brotli  # type: ignore[import-not-found]

            body = brotli.decompress(body)
        auth = self.headers.get("X-Sentry-Auth") or ""
        with self.server.lock:
            self.server.envelopes.append(body)
            self.server.paths.append(f"{self.path} auth={auth}")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _items(envelope: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an envelope's items (header line, then item header/payload)."""
    lines = envelope.split(b"\n")
    out = []
    for line in lines[1:]:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "type" not in value:
            out.append(value)
    return out


@pytest.fixture
def worker(
    xerosync_env: XerosyncEnv, celery_app: Celery, sink: Sink, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path]]:
    """A prefork worker process on the test's broker, Sentry pointed at the sink."""
    env = {
        **os.environ,
        "SENTRY_DSN": f"http://{DSN_KEY}@127.0.0.1:{sink.port}/1",
        "FLOWER_PASSWORD": FLOWER_PASSWORD,
        "XERO_CLIENT_SECRET": CLIENT_SECRET,
        "SANDBOX_CLIENT_SECRET": SANDBOX_SECRET,
        "LOG_LEVEL": "INFO",
    }
    url = make_url(env["DATABASE_URL"])
    if url.get_backend_name() == "postgresql":  # trust auth: the password is never asked for
        env["DATABASE_URL"] = url.set(password=DB_PASSWORD).render_as_string(hide_password=False)
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "xerosync.app", "worker",
             "--queues", "sync,invoices", "--hostname", "sentry-probe@%h",
             "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        eventually(lambda: "ready." in log_path.read_text(errors="replace"), timeout=60)
        yield env, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_a_real_worker_sends_sentry_no_secret_and_no_event_for_a_rejected_record(
    xerosync_env: XerosyncEnv, sink: Sink, worker: tuple[dict[str, str], Path]
) -> None:
    from xerosync.tasks import push_contact, push_pending

    env = xerosync_env
    worker_env, log_path = worker
    with env.session() as session:
        customer = Customer(connection_id=env.connection_id, name="Bad Email", email="nope")
        session.add(customer)
        session.commit()
        customer_id = customer.id
    push_contact.delay(customer_id)

    def rejected() -> bool:
        with env.session() as session:
            link = (
                session.query(XeroLink)
                .filter_by(kind=LinkKind.CONTACT.value, local_id=customer_id)
                .one_or_none()
            )
            return link is not None and link.status == LinkStatus.ERROR.value

    try:
        eventually(rejected, timeout=60)
    except AssertionError:
        raise AssertionError(log_path.read_text(errors="replace")[-4000:]) from None
    # One worker process, one task at a time, in this order: an outage past the retry
    # horizon (deferred: an operator should know), then a crash with settings in its locals.
    with env.session() as session:
        waiting = Customer(connection_id=env.connection_id, name="Long Outage")
        session.add(waiting)
        session.commit()
    env.sandbox.control.add_fault("error", count=5, status=503, path="/api.xro/2.0/Contacts")
    push_contact.delay(waiting.id, first_tried_at=time.time() - 7200)
    push_pending.delay(987654)  # no such connection: LookupError, settings in frame locals

    def crash_reported() -> str:
        text = sink.text()
        return text if "LookupError" in text else ""

    text = eventually(crash_reported, timeout=60)
    log = log_path.read_text(errors="replace")
    assert "RecordRejected" in log and "raised expected" in log, log[-3000:]

    events = [item for envelope in sink.envelopes for item in _items(envelope)]
    crash = next(e for e in events if "LookupError" in json.dumps(e))
    frames = [
        f
        for value in crash["exception"]["values"]
        for f in value.get("stacktrace", {}).get("frames", [])
    ]
    shown = json.dumps([f.get("vars", {}) for f in frames])
    assert "Settings(" in shown, "the Settings object is among the frame locals"
    assert "[Filtered]" in shown

    secrets = {
        "Flower password": FLOWER_PASSWORD,
        "client secret": CLIENT_SECRET,
        "sandbox client secret": SANDBOX_SECRET,
        "encryption key": worker_env["TOKEN_ENCRYPTION_KEY"],
        "database password": DB_PASSWORD,
    }
    for what, value in secrets.items():
        assert value not in text, f"the {what} reached Sentry"
    # The DSN's key authenticates the envelope (its header and X-Sentry-Auth); no event
    # carries it.
    assert DSN_KEY not in json.dumps(events)
    deferred = [e for e in events if f"customer #{waiting.id} deferred" in json.dumps(e)]
    assert deferred and deferred[0]["level"] == "error", "an outage past the horizon is reported"
    # A record Xero refused for its data is no Sentry event.
    assert "RecordRejected" not in text
    assert "Email address must be valid" not in text
    assert all(p.startswith("/api/1/envelope/") for p in sink.paths), sink.paths
