"""The receiver as Xero meets it: a real `xerosync webhooks` process (waitress) queuing on the
real Redis broker; each answer as Xero's rules say, and nothing queued for a bad delivery."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from tests.faults.processes import VENV_BIN, free_port, stop_group
from tests.webhooks.support import KEY, delivery, event, signed

pytestmark = pytest.mark.integration

TENANT = str(uuid.uuid4())


class Receiver:
    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}/webhooks/xero"
        self.process = process
        self.log = log

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(self.url, data=body, headers=headers or {}, timeout=10)


def start_receiver(tmp_path: Path, broker_url: str, name: str = "receiver") -> Receiver:
    port = free_port()
    log = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "XERO_WEBHOOK_KEY": KEY,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_URL": broker_url,
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "LOG_LEVEL": "INFO",
    }
    process = subprocess.Popen(
        [str(VENV_BIN / "xerosync"), "webhooks", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return Receiver(port, process, log)
        except requests.ConnectionError:
            if process.poll() is not None:
                raise AssertionError(f"receiver exited: {log.read_text()}") from None
            time.sleep(0.1)
    stop_group(process)
    raise AssertionError(f"receiver did not listen: {log.read_text()}")


@pytest.fixture
def receiver(tmp_path: Path, redis_url: str) -> Iterator[Receiver]:
    running = start_receiver(tmp_path, redis_url)
    yield running
    stop_group(running.process)


def queued(redis_url: str) -> list[dict[str, Any]]:
    """The task messages waiting on the `sync` queue: task name and arguments."""
    found = []
    for raw in redis.Redis.from_url(redis_url).lrange("sync", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append({"task": message["headers"]["task"], "args": args})
    return found


def test_a_signed_delivery_is_answered_200_empty_and_queued_per_tenant(
    receiver: Receiver, redis_url: str
) -> None:
    other = str(uuid.uuid4())
    body = delivery(event("CONTACT", tenant_id=TENANT), event("INVOICE", tenant_id=other))
    answer = receiver.post(body, signed(body))
    assert answer.status_code == 200 and answer.content == b""
    assert "Set-Cookie" not in answer.headers
    tasks = queued(redis_url)
    assert [t["task"] for t in tasks] == ["xerosync.webhooks.apply_events"] * 2
    assert sorted(t["args"][0] for t in tasks) == sorted([TENANT, other])


def test_intent_to_receive_is_200_when_signed_and_401_when_not(
    receiver: Receiver, redis_url: str
) -> None:
    body = delivery()
    assert receiver.post(body, signed(body)).status_code == 200
    assert receiver.post(body, signed(body, "wrong-key")).status_code == 401
    assert queued(redis_url) == []


def test_a_bad_signature_a_tampered_body_or_none_is_401_and_nothing_is_queued(
    receiver: Receiver, redis_url: str
) -> None:
    body = delivery(event("CONTACT", tenant_id=TENANT))
    headers = signed(body)
    assert receiver.post(body + b" ", headers).status_code == 401
    assert receiver.post(body, {"Content-Type": "application/json"}).status_code == 401
    assert receiver.post(body, signed(body, "another")).status_code == 401
    assert queued(redis_url) == []


def test_signed_nonsense_is_400_an_oversized_body_413_never_500(
    receiver: Receiver, redis_url: str
) -> None:
    nonsense = b'{"events": "many"}'
    assert receiver.post(nonsense, signed(nonsense)).status_code == 400
    huge = b"x" * (1_048_576 + 1)
    assert receiver.post(huge, signed(huge)).status_code == 413
    assert requests.get(receiver.url, timeout=5).status_code == 405
    assert queued(redis_url) == []


def test_with_the_broker_down_the_answer_is_503_so_xero_delivers_again(
    tmp_path: Path,
) -> None:
    down = start_receiver(tmp_path, "redis://127.0.0.1:1/0", name="down")
    try:
        body = delivery(event("CONTACT", tenant_id=TENANT))
        assert down.post(body, signed(body)).status_code == 503  # bench.webhooks times it
    finally:
        stop_group(down.process)
    assert "answered 503 so Xero retries" in down.log.read_text()
