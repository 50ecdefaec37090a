"""Confirmation → Draft through a Xero outage (issue 12), with real workers.

The sandbox (its own process) answers 503 to every accounting call for `--outage-seconds`
(30 s: the time-based outage fault, `SandboxControl.outage`). While it is down, `--orders`
quotes are confirmed at moments spread over the outage, each with
`create_invoice_for_order.delay(order_id)` as the CRM does, to a real `xerosync worker
invoices` (prefork, Celery on the bench's Redis). Then the outage ends, and the bench waits for
every order's Draft. No routine pass runs: what is measured is the task's own path, not the
safety net.

Printed: p50/p99 (and max) seconds from the end of the outage to each Draft existing in the
sandbox (its creation time there), how often the tasks were retried and why (Xero's 503, the
rate budget, other), how many tasks ended deferred to the routine pass or in an exception,
the number of Drafts for the orders and of duplicates, and the 429s the sandbox served.

    .venv/bin/python -m bench.outage
    .venv/bin/python -m bench.outage --orders 40 --outage-seconds 60 --database sqlite

`BENCH_DUMP=DIR` keeps the worker's log and the sandbox's request log there.
Needs PostgreSQL on 127.0.0.1:5432 (a database is created and dropped; or `--database
sqlite`) and Redis (DB 7, BENCH_REDIS_DB, flushed before and after). Xero's limits, with
Xero's minute (`--minute-seconds` scales it, in the sandbox and in xerosync alike).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import _support as support

INVOICE_TASK = "xerosync.tasks.create_invoice_for_order"
RETRY = re.compile(r"Task (?P<task>\S+)\[(?P<id>[^\]]+)\] retry: Retry in (?P<seconds>[\d.]+)s")
UNEXPECTED = re.compile(r"Task (?P<task>\S+)\[(?P<id>[^\]]+)\] raised unexpected: (?P<error>.*)")
VERDICT = re.compile(r" invoice #(?P<order>\d+): (?P<error>.*) -> (?P<action>retry|defer|fail)$")


@dataclass(frozen=True)
class Settings:
    orders: int = 20
    outage_seconds: float = 30.0
    minute_seconds: float = 60.0
    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    concurrency: int = 2
    database: str = "postgres"
    redis_db: int = support.DEFAULT_REDIS_DB
    max_seconds: float = 180.0
    """How long after the outage to wait for the last Draft."""
    seed: int = 12


@dataclass
class Result:
    recovered_at: float
    latencies: dict[int, float]
    """order id → seconds from the end of the outage to its Draft."""
    confirmed: dict[int, float]
    drafts: int
    duplicates: int
    missing: list[int]
    served_429s: int
    outage_answers: int
    retries_by_task: Counter[str]
    retry_waits: list[float]
    verdicts: Counter[tuple[str, str]]
    crashed: list[str]
    elapsed: float
    notes: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        ordered = sorted(self.latencies.values())
        if not ordered:
            return None
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]


# -- set-up --------------------------------------------------------------------------------
def _seed_orders(s: Settings, connection_id: int) -> list[int]:
    """Quotes of customers Xero already has (the first pass imported them)."""
    from sqlalchemy.orm import Session

    from xerosync.db import get_engine

    rng = random.Random(s.seed)
    with Session(get_engine()) as session:
        orders = support.quotes_for_imported_customers(
            session, connection_id, s.orders, rng, "outage"
        )
        session.commit()
        return [o.id for o in orders]


def _invoiced(order_ids: list[int]) -> int:
    from xerosync.db import get_engine

    with get_engine().connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM orders WHERE xero_invoice_id IS NOT NULL")
            ).scalar_one()
        )


# -- the run -------------------------------------------------------------------------------
def _drive(s: Settings, control: Any, order_ids: list[int]) -> tuple[dict[int, float], float]:
    """Start the outage, confirm the orders spread over it, end it. Returns the .delay()
    times and the moment the outage ended."""
    from sqlalchemy.orm import Session

    from xerosync.db import get_engine
    from xerosync.models import Order, OrderStatus
    from xerosync.tasks import create_invoice_for_order

    # A cap in case this process dies: the outage is ended below, at its planned time.
    control.outage(s.outage_seconds + 60, status=503)
    started = time.time()
    rng = random.Random(s.seed)
    # Spread over the outage, none in its last second (that one would meet a working Xero).
    span = max(0.0, s.outage_seconds - 1.0)
    moments = sorted(started + rng.uniform(0, span) for _ in order_ids)
    confirmed: dict[int, float] = {}
    with Session(get_engine()) as session:
        for moment, order_id in zip(moments, order_ids, strict=True):
            time.sleep(max(0.0, moment - time.time()))
            order = session.get_one(Order, order_id)
            order.status = OrderStatus.CONFIRMED.value
            order.confirmed_at = datetime.now(UTC)
            session.commit()
            confirmed[order_id] = time.time()
            create_invoice_for_order.delay(order_id)
    time.sleep(max(0.0, started + s.outage_seconds - time.time()))
    control.clear_faults()
    return confirmed, time.time()


def _read_logs(paths: list[Path]) -> tuple[Counter[str], list[float], Counter[Any], list[str]]:
    """Retries per task id, their countdowns, the policy's verdicts (why, what), crashes."""
    per_task: Counter[str] = Counter()
    waits: list[float] = []
    verdicts: Counter[tuple[str, str]] = Counter()
    crashed: list[str] = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if (m := RETRY.search(line)) and m["task"] == INVOICE_TASK:
                per_task[m["id"]] += 1
                waits.append(float(m["seconds"]))
            elif m := VERDICT.search(line):
                error = m["error"]
                why = (
                    "rate budget"
                    if error.startswith("rate budget")
                    else "Xero 503"
                    if " 503" in error or "503 " in error
                    else "Xero 429"
                    if " 429" in error
                    else "other"
                )
                verdicts[(why, m["action"])] += 1
            elif m := UNEXPECTED.search(line):
                crashed.append(m.group(0))
    return per_task, waits, verdicts, crashed


def _measure(s: Settings, control: Any, work: Path) -> Result:
    with (
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        env = support.same_limits(
            control,
            database_url=database_url,
            redis_url=redis_url,
            minute_limit=s.minute_limit,
            day_limit=s.day_limit,
            concurrent_limit=s.concurrent_limit,
            minute_seconds=s.minute_seconds,
        )
        connection_id = support.set_up_organisation(env, work)
        support.xerosync_cli(env, work, "sync")  # the first pass: Xero's customers come in
        worker_env = {**env, "LOG_LEVEL": "INFO"}  # Celery's retry lines are INFO
        log_path = work / "worker-invoices.log"
        proc = None
        with support.environment(env):
            order_ids = _seed_orders(s, connection_id)
            from xerosync.app import app

            try:
                argv = [sys.executable, "-m", "xerosync", "worker", "invoices"]
                proc = support.spawn([*argv, "-c", str(s.concurrency)], worker_env, log_path, work)
                support.wait_for_workers(app, 1, [proc])
                control.clear_requests()
                start = time.time()
                confirmed, recovered = _drive(s, control, order_ids)
                deadline = recovered + s.max_seconds
                while _invoiced(order_ids) < len(order_ids) and time.time() < deadline:
                    time.sleep(0.1)
                # Retries still on their way (a duplicate would come late): a moment more.
                time.sleep(2.0)
                elapsed = time.time() - start
            finally:
                if proc is not None:
                    support.stop_group(proc, timeout=20)
        log = control.requests()
        if target := os.environ.get("BENCH_DUMP"):  # the worker's log and the request log
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copy(log_path, Path(target) / "outage-worker.log")
            (Path(target) / "outage-requests.json").write_text(json.dumps(log, default=str))
        created: dict[int, list[float]] = {}
        for invoice in control.records("Invoices"):
            url = str(invoice.get("Url") or "")
            if "/crm/orders/" not in url or invoice.get("Status") != "DRAFT":
                continue
            order_id = int(url.rsplit("/", 1)[1])
            ms = int(str(invoice["UpdatedDateUTC"]).split("(")[1].split("+")[0].split(")")[0])
            created.setdefault(order_id, []).append(ms / 1000)
        per_task, waits, verdicts, crashed = _read_logs([log_path])
        return Result(
            recovered_at=recovered,
            latencies={o: min(created[o]) - recovered for o in confirmed if o in created},
            confirmed=confirmed,
            drafts=sum(len(v) for v in created.values()),
            duplicates=sum(len(v) - 1 for v in created.values()),
            missing=[o for o in confirmed if o not in created],
            served_429s=support.served_429s(log),
            outage_answers=sum(1 for e in support.api_calls(log) if e.get("fault") == "error"),
            retries_by_task=per_task,
            retry_waits=waits,
            verdicts=verdicts,
            crashed=crashed,
            elapsed=elapsed,
        )


def run(settings: Settings | None = None) -> Result:
    s = settings or Settings()
    with support.workdir("bench-outage-") as work, support.sandbox_process(work) as sandbox:
        return _measure(s, sandbox.control, work)


# -- the report ----------------------------------------------------------------------------
def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def print_settings(s: Settings) -> None:
    print("xerosync outage bench (issue 12: confirmation -> Draft through a Xero outage)")
    print(
        f"  settings: {s.orders} orders confirmed at random over a {s.outage_seconds:g}s outage "
        f"(503 on every accounting call); limits minute={s.minute_limit} day={s.day_limit} "
        f"concurrent={s.concurrent_limit}, minute = {s.minute_seconds:g}s (sandbox and "
        f"xerosync); one `xerosync worker invoices` with concurrency {s.concurrency} "
        f"(prefork); no routine pass; database {s.database}; Redis DB {s.redis_db}; waits up "
        f"to {s.max_seconds:g}s after the outage",
        flush=True,
    )


def print_result(s: Settings, r: Result) -> None:
    p50, p99 = r.percentile(50), r.percentile(99)
    late = max(r.latencies.values(), default=None)
    print(f"  run: {r.elapsed:.0f}s")
    print(
        f"    outage end -> Draft ({len(r.latencies)} of {len(r.confirmed)} orders): "
        f"p50 {_fmt(p50)}  p99 {_fmt(p99)}  max {_fmt(late)}"
    )
    if r.missing:
        print(f"    {len(r.missing)} orders had no Draft {s.max_seconds:g}s after the outage")
    retried = sorted(r.retries_by_task.values())
    print(
        f"    task retries: {sum(retried)} over {len(retried)} tasks "
        f"(per task: min {min(retried, default=0)}, median "
        f"{retried[len(retried) // 2] if retried else 0}, max {max(retried, default=0)}); "
        f"longest countdown {max(r.retry_waits, default=0):.1f}s"
    )
    why = ", ".join(f"{w} -> {a}: {n}" for (w, a), n in sorted(r.verdicts.items())) or "none"
    print(f"    the retry policy's verdicts: {why}")
    print(f"    503s the outage answered: {r.outage_answers}")
    deferred = sum(n for (_, action), n in r.verdicts.items() if action == "defer")
    print(
        f"    tasks that ended in an exception: {len(r.crashed)}; verdicts 'defer' (left to "
        f"the routine pass): {deferred}"
    )
    for line in r.crashed[:3]:
        print(f"      {line[:300]}")
    print(
        f"    Drafts for the orders: {r.drafts} (duplicates: {r.duplicates}) -> "
        f"{support.verdict(r.drafts == len(r.confirmed) and r.duplicates == 0)}"
    )
    print(
        f"    429s served by the sandbox: {r.served_429s} (target: 0) -> "
        f"{support.verdict(r.served_429s == 0)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Settings()
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--outage-seconds", type=float, default=defaults.outage_seconds)
    parser.add_argument("--minute-seconds", type=float, default=defaults.minute_seconds)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default=defaults.database)
    parser.add_argument("--redis-db", type=int, default=defaults.redis_db)
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds)
    args = parser.parse_args()
    settings = Settings(
        orders=args.orders,
        outage_seconds=args.outage_seconds,
        minute_seconds=args.minute_seconds,
        concurrency=args.concurrency,
        database=args.database,
        redis_db=args.redis_db,
        max_seconds=args.max_seconds,
    )
    support.exit_cleanly_on_sigterm()
    print_settings(settings)
    print_result(settings, run(settings))


if __name__ == "__main__":
    main()
