"""Secrets never reach a Sentry event or a log line, even from a failing task."""

from __future__ import annotations

import io
import json
import logging
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sentry_sdk
from celery import Celery
from celery.app import trace as celery_trace
from celery.contrib.testing.worker import start_worker
from celery.worker.consumer import consumer as celery_consumer
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from xerosync import redaction
from xerosync.observability import init_sentry, install_filters
from xerosync.settings import load_settings

ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0LXVzZXIifQ.c2lnbmF0dXJlLXZhbHVl"
CLIENT_SECRET = "s3cr3t-client-VALUE-42"
ENCRYPTION_KEY = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5dz0="
REFRESH_TOKEN = "rt-0123456789abcdef0123456789abcdef"
SECRETS = (ACCESS_TOKEN, CLIENT_SECRET, ENCRYPTION_KEY, REFRESH_TOKEN)


class CapturingTransport(Transport):
    """Keeps what Sentry would send instead of sending it."""

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: queue.Queue[Envelope] = queue.Queue()

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.put(envelope)


@pytest.fixture
def sentry(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturingTransport]:
    settings = load_settings(
        {
            "SENTRY_DSN": "http://public@127.0.0.1:9/1",
            "XERO_CLIENT_SECRET": CLIENT_SECRET,
            "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
        },
        env_file=None,
    )
    transport = CapturingTransport()
    assert init_sentry(settings, transport=transport)
    # Sentry wraps tracers by patching `celery.app.trace.build_tracer`. Prefork children
    # (production) import it after that; the in-process test worker's consumer bound it when
    # it was first imported, so hand it the patched one.
    monkeypatch.setattr(celery_consumer, "build_tracer", celery_trace.build_tracer)
    redaction.remember([REFRESH_TOKEN])
    yield transport
    sentry_sdk.get_client().close()


@contextmanager
def captured_log() -> Iterator[io.StringIO]:
    """Root log output through xerosync's filters (added after Celery set up logging)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    install_filters(handler)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.mark.integration
def test_a_failing_task_leaks_no_secret(sentry: CapturingTransport, redis_url: str) -> None:
    app = Celery("secrets-probe", set_as_current=False)
    app.config_from_object("celeryconfig")
    app.conf.broker_url = redis_url

    @app.task(name="probe.leaky", shared=False)
    def leaky() -> None:
        headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
        client_secret = CLIENT_SECRET
        refresh_token = REFRESH_TOKEN
        raise RuntimeError(
            f"Xero said no to {headers} with secret {client_secret} "
            f"refresh_token={refresh_token} key {ENCRYPTION_KEY}"
        )

    with (
        start_worker(app, queues=["sync"], perform_ping_check=False),
        captured_log() as log_stream,
    ):
        leaky.apply_async(queue="sync")
        envelope = sentry.envelopes.get(timeout=20)
        time.sleep(0.2)  # let the worker finish logging the failure

    event = json.dumps([item.payload.json for item in envelope.items if item.payload.json])
    assert "RuntimeError" in event
    log = log_stream.getvalue()
    assert "RuntimeError" in log
    for secret in SECRETS:
        assert secret not in event
        assert secret not in log


def test_redaction_of_free_text_and_named_fields() -> None:
    redaction.remember([REFRESH_TOKEN])
    text = f"Authorization: Bearer {ACCESS_TOKEN}; refresh_token={REFRESH_TOKEN}"
    assert ACCESS_TOKEN not in redaction.scrub_text(text)
    assert REFRESH_TOKEN not in redaction.scrub_text(text)
    scrubbed = redaction.scrub({"headers": {"Authorization": "Basic abc"}, "client_secret": "x1"})
    assert scrubbed == {"headers": {"Authorization": "[Filtered]"}, "client_secret": "[Filtered]"}
