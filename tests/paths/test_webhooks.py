"""Xero's webhooks end to end: the sandbox (its own process) sends what changes in it to the
real receiver process (`xerosync webhooks`), which queues on the real broker for a real
prefork worker; the CRM has the change long before a routine pass would bring it.

Asserted on the way: the sandbox's intent-to-receive check against the receiver (and its
failure with the wrong key), each task's outcome in the worker's log, the calls Xero got (one
read per changed stream, bills never read), duplicates and out-of-order replays changing
nothing, an organisation xerosync is not connected to dropped, and events held by the sandbox
through a receiver restart delivered once it is back.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from tests.faults.conftest import FaultEnv, fault_env  # noqa: F401
from tests.faults.processes import VENV_BIN, free_port, stop_group
from tests.paths.support import API, assert_clean_logs, eventually
from xerosync.models import Customer, DocumentStatus, Invoice, SyncRun
from xerosync.tasks import run_pass_for
from xerosync.webhooks.tasks import TASK_NAME

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers, pytest.mark.timeout(240)]

FAST = {"time_scale": 0.01, "batch_seconds": 20.0, "retry_base_seconds": 20.0}
"""Xero's waits a hundredfold shorter: 0.2 s to gather a batch, 0.2 s, 0.4 s, ... between
retries."""
SUCCEEDED = re.compile(
    rf"Task {re.escape(TASK_NAME)}\[(?P<id>[^\]]+)\] succeeded in [\d.]+s: (?P<result>\{{.*\}})"
)
APPLIED = re.compile(
    r"\[task=(?P<id>\S+) org=\S+\] webhook events for .+ applied: (?P<applied>\{.*\})"
)
"""Celery's line abbreviates nested dicts (`{...}`); the job's own line has the counts."""


@dataclass
class ReceiverProcess:
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/xero"

    def start(self, env: dict[str, str], cwd: Path) -> None:
        """`xerosync webhooks` with the workers' settings: against the sandbox, no key set,
        it checks the sandbox's own signing key (what `make run` does)."""
        self.process = subprocess.Popen(
            [str(VENV_BIN / "xerosync"), "webhooks", "--port", str(self.port)],
            cwd=cwd,
            env={**env, "XERO_WEBHOOK_KEY": ""},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def listening() -> bool:
            """the receiver listens"""
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return requests.get(self.url, timeout=1).status_code == 405
            except requests.ConnectionError:
                return False

        eventually(listening, timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, grace=5)
            self.process = None


@pytest.fixture
def receiver(fault_env: FaultEnv) -> Iterator[ReceiverProcess]:  # noqa: F811
    running = ReceiverProcess(free_port(), fault_env.workdir / "receiver.log")
    running.start(fault_env.worker_env, fault_env.workdir)
    yield running
    running.stop()


def imported(env: FaultEnv) -> None:
    """One routine pass has brought Xero's contacts and sales invoices into the CRM."""
    run_pass_for.delay(env.connection_id)

    def finished() -> SyncRun | None:
        """the first pass has finished"""
        with env.session() as session:
            return session.scalars(select(SyncRun).where(SyncRun.finished_at.is_not(None))).first()

    run = eventually(finished, timeout=90, every=0.25)
    assert run.outcome == "ok", run.error


def subscribed(env: FaultEnv, url: str, **values: Any) -> dict[str, Any]:
    env.control.webhooks(url=url, **{**FAST, **values})
    return eventually(lambda: (s := env.control.webhooks())["verified"] and s, timeout=20)


def results(env: FaultEnv) -> list[dict[str, Any]]:
    """Each webhook task's outcome from the worker's log, in the order they ended, with the
    counts the job logged (`applied`) for those that stored something."""
    text = "\n".join(w.log_path.read_text(errors="replace") for w in env.workers)
    applied = {m.group("id"): ast.literal_eval(m.group("applied")) for m in APPLIED.finditer(text)}
    found = []
    for match in SUCCEEDED.finditer(text):
        result = ast.literal_eval(match.group("result"))
        result["applied"] = applied.get(match.group("id"))
        found.append(result)
    return found


def crm_invoice(env: FaultEnv, xero_id: str) -> Invoice | None:
    with env.session() as session:
        return session.scalars(select(Invoice).where(Invoice.xero_invoice_id == xero_id)).first()


def customer_names(env: FaultEnv) -> list[str]:
    with env.session() as session:
        return list(session.scalars(select(Customer.name)))


def gets(env: FaultEnv, resource: str) -> list[dict[str, Any]]:
    return env.control.requests(path=f"{API}/{resource}", method="GET")


def test_changes_in_xero_reach_the_crm_through_receiver_broker_and_worker(
    fault_env: FaultEnv,  # noqa: F811
    receiver: ReceiverProcess,
) -> None:
    env = fault_env
    env.start_worker("sync", "sync", concurrency=2)
    imported(env)

    # The wrong key: the receiver answers 401 to both checks and nothing is ever queued.
    env.control.webhooks(url=receiver.url, key="not-the-sandbox-key", **FAST)
    eventually(lambda: env.control.webhooks()["failures"] >= 1, timeout=20)
    status = env.control.webhooks()
    assert status["verified"] is False
    assert "401 for the signed" in status["attempts"][-1]["detail"]
    from xerosync.sandbox import WEBHOOK_KEY

    subscribed(env, receiver.url, key=WEBHOOK_KEY)
    env.control.clear_requests()

    sales = next(
        i for i in env.control.records("Invoices")
        if i["Type"] == "ACCREC" and i["Status"] == "AUTHORISED"
    )  # fmt: skip
    bill = next(i for i in env.control.records("Invoices") if i["Type"] == "ACCPAY")
    contact = next(c for c in env.control.records("Contacts") if c["ContactStatus"] == "ACTIVE")
    assert crm_invoice(env, sales["InvoiceID"]) is not None
    env.control.webhooks(paused=True)  # the three changes go out as one delivery
    env.control.edit("Invoices", sales["InvoiceID"], {"Status": "VOIDED"})
    env.control.edit("Invoices", bill["InvoiceID"], {"Reference": "a supplier's bill"})
    env.control.edit("Contacts", contact["ContactID"], {"Name": "First Rename"})
    env.control.edit("Contacts", contact["ContactID"], {"Name": "Renamed In Xero"})
    other = env.control.add_tenant("Not Connected Ltd", seed="empty")
    env.control.bulk(other, Contacts=1)  # an organisation the CRM does not know: dropped
    env.control.webhooks(paused=False)

    def voided() -> bool:
        """the voided invoice is "D" in the CRM"""
        found = crm_invoice(env, sales["InvoiceID"])
        return found is not None and found.status == DocumentStatus.DELETED.value

    eventually(voided, timeout=30)
    assert "Renamed In Xero" in customer_names(env)
    outcomes = eventually(lambda: len(found := results(env)) >= 2 and found, timeout=30)
    by_status = sorted(r["status"] for r in outcomes)
    assert by_status == ["dropped", "ok"], outcomes
    [applied] = [r["applied"] for r in outcomes if r["status"] == "ok"]
    assert applied["invoices"]["read"] == 1  # the bill is not downloaded (Type=="ACCREC")
    assert applied["contacts"]["read"] == 1  # two events, one contact, read once
    assert crm_invoice(env, bill["InvoiceID"]) is None
    assert len(gets(env, "Invoices")) == 1 and len(gets(env, "Contacts")) == 1
    assert "ACCREC" in str(gets(env, "Invoices")[0])

    # Duplicates and out of order: every delivered event again, newest first, twice over.
    delivered = [e["sequence"] for e in env.control.webhook_events("delivered")]
    env.control.clear_requests()
    env.control.replay_webhooks(list(reversed(delivered)) * 2)
    eventually(lambda: len(results(env)) >= 4, timeout=30)
    replays = [r for r in results(env)[2:] if r["status"] == "ok"]
    assert replays, results(env)
    for result in replays:
        for counts in result["applied"].values():
            assert counts["created"] == counts["updated"] == 0, result
    assert "First Rename" not in customer_names(env)  # the older event brought no old name
    found = crm_invoice(env, sales["InvoiceID"])
    assert found is not None and found.status == DocumentStatus.DELETED.value
    assert env.control.requests(method="PUT") == env.control.requests(method="POST") == []
    assert_clean_logs(env)


def test_events_held_through_a_receiver_restart_arrive_once_it_is_back(
    fault_env: FaultEnv,  # noqa: F811
    receiver: ReceiverProcess,
) -> None:
    env = fault_env
    env.start_worker("sync", "sync", concurrency=2)
    imported(env)
    subscribed(env, receiver.url)
    receiver.stop()

    sales = [
        i for i in env.control.records("Invoices")
        if i["Type"] == "ACCREC" and i["Status"] == "AUTHORISED"
    ][:3]  # fmt: skip
    for invoice in sales:
        env.control.edit("Invoices", invoice["InvoiceID"], {"Status": "VOIDED"})
    eventually(lambda: env.control.webhooks()["failures"] >= 2, timeout=20)
    status = env.control.webhooks()
    assert status["pending"] == 3 and status["enabled"] is True
    assert all(not a["ok"] for a in status["attempts"][-2:])
    assert all(crm_invoice(env, i["InvoiceID"]).status != "D" for i in sales)  # type: ignore[union-attr]

    receiver.start(env.worker_env, env.workdir)

    def all_voided() -> bool:
        """the three voided invoices are "D" in the CRM"""
        return all(
            (found := crm_invoice(env, i["InvoiceID"])) is not None
            and found.status == DocumentStatus.DELETED.value
            for i in sales
        )

    eventually(all_voided, timeout=30)
    assert env.control.webhooks()["pending"] == 0
    [result] = eventually(lambda: results(env), timeout=30)
    assert result["status"] == "ok" and result["applied"]["invoices"]["read"] == 3
    with env.session() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 1  # no pass did it
    assert_clean_logs(env)
