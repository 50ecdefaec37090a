"""Webhooks (issue 15): how soon a void in Xero is "D" in the CRM, what it costs, and what an
idle organisation costs per hour with and without webhooks.

Real processes: the sandbox (its own process, 150 ms per call by default, sending its
webhooks as Xero does: signed batches, the first event of a batch waiting `--batch-seconds`
for company), the receiver (`xerosync webhooks`) and a `sync` worker (prefork). This process
plays the accounting team (voids invoices with the sandbox's control API, as in Xero's UI) and
watches the CRM's database.

* **void -> "D" with webhooks**: `--voids` sales invoices voided one after another; seconds
  from the void to the CRM row's status "D" (p50/p99).
* **void -> "D" by polling**: one routine pass is measured with the same latency (seconds from
  its start to the void stored); a void waits for the next pass, uniformly within the
  interval, so p50 = interval/2 + pass and p99 = 0.99 x interval + pass, for the busy interval
  (SYNC_INTERVAL_SECONDS, 300 s) and the idle one (SYNC_IDLE_MAX_INTERVAL_SECONDS, 1800 s).
  Derived from the measured pass rather than waited out (hours of wall time).
* **Xero calls per 50 events**: 50 invoices voided in a burst (one batch, as Xero batches);
  the worker's calls counted in the sandbox's request log.
* **idle calls per hour**: one idle pass measured with the receiver down (every stream read)
  and one with it up and WEBHOOK_COVERED_POLL_SECONDS=`--net-seconds` (items only; the
  covered streams once per net period); times the idle cadence's passes per hour.

    .venv/bin/python -m bench.webhooks
    .venv/bin/python -m bench.webhooks --voids 50 --latency-ms 150 --database sqlite

Needs Redis (DB 7, BENCH_REDIS_DB; flushed before and after) and PostgreSQL on 127.0.0.1
(or `--database sqlite`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests
from sqlalchemy import Engine, bindparam, text

from bench import _support as support

HOUR = 3600.0


@dataclass(frozen=True)
class Settings:
    voids: int = 40
    burst: int = 50
    latency_ms: int = 150
    batch_seconds: float = 1.0
    net_seconds: int = 3600
    database: str = "postgres"
    redis_db: int = support.DEFAULT_REDIS_DB
    interval: float = 300.0
    idle_max: float = 1800.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def crm_status(engine: Engine, xero_ids: list[str]) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT xero_invoice_id, status FROM invoices WHERE xero_invoice_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": xero_ids},
        )
        return {str(r[0]).lower(): str(r[1]) for r in rows}


def wait_until_deleted(engine: Engine, xero_ids: list[str], timeout: float = 120.0) -> float:
    """Seconds until every invoice is "D" in the CRM (polled every 20 ms)."""
    started = time.perf_counter()
    wanted = [i.lower() for i in xero_ids]
    while True:
        statuses = crm_status(engine, wanted)
        if all(statuses.get(i) == "D" for i in wanted):
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"not all of {len(wanted)} invoices were D within {timeout:g}s")
        time.sleep(0.02)


def sales_invoices(control: Any, engine: Engine) -> list[str]:
    """Sales invoices the CRM holds and that are not voided yet."""
    ids = [
        str(i["InvoiceID"])
        for i in control.records("Invoices")
        if i["Type"] == "ACCREC" and i["Status"] in ("AUTHORISED", "DRAFT", "SUBMITTED")
    ]
    held = crm_status(engine, ids)
    return [i for i in ids if held.get(i.lower()) not in (None, "D")]


def start_receiver(env: dict[str, str], work: Path, port: int) -> Any:
    proc = support.spawn(
        [sys.executable, "-m", "xerosync", "webhooks", "--port", str(port)],
        {**env, "XERO_WEBHOOK_KEY": "", "LOG_LEVEL": "INFO"},
        work / "receiver.log",
        work,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/webhooks/xero", timeout=1)
            return proc
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the receiver did not start; see {work / 'receiver.log'}"
                ) from None
            time.sleep(0.1)


def start_worker(env: dict[str, str], work: Path) -> Any:
    return support.spawn(
        [sys.executable, "-m", "xerosync", "worker", "sync", "--concurrency", "2"],
        {**env, "LOG_LEVEL": "INFO"},
        work / "worker.log",
        work,
    )


def routine_pass(control: Any, connection_id: int) -> tuple[float, int]:
    """One routine pass in this process: its seconds and its calls."""
    from xerosync.sync import jobs

    control.clear_requests()
    started = time.perf_counter()
    result = jobs.routine_pass_for(connection_id)
    seconds = time.perf_counter() - started
    if result.status != "ok":
        raise RuntimeError(f"routine pass: {result.status} {result.error}")
    return seconds, len(support.api_calls(control.requests()))


def settle(control: Any) -> None:
    """Xero's clock past the margin after which the cursor's second counts as past."""
    from xerosync.sync.pull import SECOND_SETTLES_AFTER

    control.advance_clock(SECOND_SETTLES_AFTER.total_seconds() + 2)


def idle_passes_per_hour(s: Settings) -> float:
    """Passes an idle organisation makes per hour once its interval has grown to the bound
    (xerosync.sync.cadence: the interval doubles from SYNC_INTERVAL_SECONDS to the idle max)."""
    return HOUR / s.idle_max


def measure(s: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with (
        support.workdir("bench-webhooks-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(minute_limit=10_000, day_limit=1_000_000, concurrent_limit=20)
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=10_000,
            XERO_DAY_LIMIT=1_000_000,
            XERO_CONCURRENT_LIMIT=20,
            WEBHOOK_COVERED_POLL_SECONDS=0,
        )
        connection_id = support.set_up_organisation(env, work)
        control.bulk(Invoices=max(200, 2 * (s.voids + s.burst)))
        from xerosync.db import make_engine

        engine = make_engine(database_url)
        procs: list[Any] = []
        try:
            with support.environment(env):
                from xerosync.sync import outbox

                outbox.install()
                routine_pass(control, connection_id)  # the import: the CRM holds the invoices
                control.config(latency_ms=s.latency_ms)
                candidates = sales_invoices(control, engine)
                if len(candidates) < s.voids + s.burst + 1:
                    raise RuntimeError(f"only {len(candidates)} sales invoices to void")

                # Polling: a pass with one void in it.
                settle(control)
                control.edit("Invoices", candidates.pop(), {"Status": "VOIDED"})
                out["pass_seconds"], out["change_pass_calls"] = routine_pass(control, connection_id)
                settle(control)
                out["idle_seconds"], out["idle_calls"] = routine_pass(control, connection_id)

                # Webhooks: receiver, worker, the sandbox subscribed.
                port = support.free_port()
                procs.append(start_receiver(env, work, port))
                procs.append(start_worker(env, work))
                from xerosync.app import app

                support.wait_for_workers(app, 1, procs)
                control.webhooks(
                    url=f"http://127.0.0.1:{port}/webhooks/xero", batch_seconds=s.batch_seconds
                )
                deadline = time.monotonic() + 30
                while not control.webhooks()["verified"]:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the sandbox's intent-to-receive check did not pass")
                    time.sleep(0.1)

                latencies = []
                control.clear_requests()
                for _ in range(s.voids):
                    invoice = candidates.pop()
                    started = time.perf_counter()
                    control.edit("Invoices", invoice, {"Status": "VOIDED"})
                    wait_until_deleted(engine, [invoice])
                    latencies.append(time.perf_counter() - started)
                out["latencies"] = latencies
                out["calls_per_void"] = len(support.api_calls(control.requests())) / s.voids

                burst = [candidates.pop() for _ in range(s.burst)]
                before = control.webhooks()["last_sequence"]
                control.clear_requests()
                control.webhooks(paused=True)
                for invoice in burst:
                    control.edit("Invoices", invoice, {"Status": "VOIDED"})
                control.webhooks(paused=False)
                out["burst_seconds"] = wait_until_deleted(engine, burst)
                out["burst_calls"] = len(support.api_calls(control.requests()))
                out["burst_deliveries"] = sum(
                    1
                    for a in control.webhooks()["attempts"]
                    if a["kind"] == "delivery" and a["ok"] and max(a["sequences"]) > before
                )

                # Idle with webhooks: the receiver's heartbeat is in Redis; covered streams
                # are left to it between net reads.
                env_net = {**env, "WEBHOOK_COVERED_POLL_SECONDS": str(s.net_seconds)}
                with support.environment(env_net):
                    client = redis.Redis.from_url(redis_url)
                    if client.get("xerosync:webhooks:receiver") is None:
                        raise RuntimeError("the receiver's heartbeat is not in Redis")
                    client.close()
                    settle(control)
                    routine_pass(control, connection_id)  # reads every stream once: the net's start
                    settle(control)
                    out["idle_webhook_seconds"], out["idle_webhook_calls"] = routine_pass(
                        control, connection_id
                    )
                out["refused"] = support.served_429s(control.requests())
        finally:
            for proc in procs:
                support.stop_group(proc)
            engine.dispose()
    return out


def report(s: Settings, m: dict[str, Any]) -> None:
    lat = m["latencies"]
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    print(
        f'  void -> "D" with webhooks ({len(lat)} voids, one at a time): '
        f"p50 {p50:.2f}s, p99 {p99:.2f}s, max {max(lat):.2f}s, mean {statistics.mean(lat):.2f}s "
        f"(target: under 5 s) -> {support.verdict(p99 < 5)}"
    )
    print(
        f"      of which the sandbox's batch window: {s.batch_seconds:g}s; Xero calls per "
        f"void: {m['calls_per_void']:.2f}"
    )
    for name, interval in (("busy", s.interval), ("idle", s.idle_max)):
        print(
            f'  void -> "D" by polling ({name} organisation, a pass every {interval:g}s; '
            f"a pass with the void took {m['pass_seconds']:.2f}s in {m['change_pass_calls']} "
            f"calls): p50 {interval / 2 + m['pass_seconds']:.0f}s, "
            f"p99 {0.99 * interval + m['pass_seconds']:.0f}s"
        )
    calls = m["burst_calls"]
    print(
        f"  Xero calls for {s.burst} void events in a burst: {calls} "
        f'({m["burst_deliveries"]} deliveries; all "D" after {m["burst_seconds"]:.2f}s) '
        f"(target: 1-2) -> {support.verdict(1 <= calls <= 2)}"
    )
    per_hour = idle_passes_per_hour(s)
    without = m["idle_calls"] * per_hour
    covered = m["idle_calls"] - m["idle_webhook_calls"]
    with_hooks = m["idle_webhook_calls"] * per_hour + covered * HOUR / s.net_seconds
    print(
        f"  idle organisation, calls per hour (a pass every {s.idle_max:g}s once idle = "
        f"{per_hour:g} passes an hour): without webhooks {without:g} ({m['idle_calls']} per "
        f"pass); with webhooks {with_hooks:g} ({m['idle_webhook_calls']} per pass, items, plus "
        f"the {covered} covered streams once per WEBHOOK_COVERED_POLL_SECONDS={s.net_seconds})"
    )
    print(
        f"  429s served by the sandbox: {m['refused']} (target: 0) -> "
        f"{support.verdict(m['refused'] == 0)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voids", type=int, default=Settings.voids)
    parser.add_argument("--latency-ms", type=int, default=Settings.latency_ms)
    parser.add_argument("--batch-seconds", type=float, default=Settings.batch_seconds)
    parser.add_argument("--net-seconds", type=int, default=Settings.net_seconds)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    args = parser.parse_args()
    support.exit_cleanly_on_sigterm()
    s = Settings(
        voids=args.voids,
        latency_ms=args.latency_ms,
        batch_seconds=args.batch_seconds,
        net_seconds=args.net_seconds,
        database=args.database,
        redis_db=args.redis_db,
    )
    print('xerosync webhooks bench (issue 15: void -> "D", calls per event, idle calls)')
    print(
        f"  settings: {s.latency_ms} ms per Xero call; sandbox batch window {s.batch_seconds:g}s;"
        f" database {s.database}; Redis DB {s.redis_db}; real receiver and sync worker",
        flush=True,
    )
    report(s, measure(s))


if __name__ == "__main__":
    main()
