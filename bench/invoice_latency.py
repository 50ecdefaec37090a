"""Invoice latency under load, with Xero's real limits time-scaled (issue 8).

While routine passes push a backlog of new customers (5,000 by default) through the sandbox
with Xero's limits (60 a minute, 5,000 a day, 5 in flight; the minute shortened to
`--minute-seconds`, the same in the sandbox and in xerosync) and a per-call latency, orders
are confirmed at random moments (`create_invoice_for_order.delay(order_id)`). Printed, for
each queue layout: p50/p95/p99 seconds from the `.delay()` call to the Draft invoice existing
in the sandbox (its creation time there), the sandbox's 429s, and the share of the routine
minute budget used in the complete windows while the backlog existed.

Layouts: **separate** (the Procfile's: `xerosync worker invoices` and `xerosync worker sync`,
each a real Celery worker process) and **shared** (two workers, each consuming both queues).
Beat is played by this script: a `run_pass_for` task every `--pass-interval` seconds (default:
production's 300 s, time-scaled like the minute), with `expires`, as beat's schedule entry
does. A pass cut short by the rate budget sends its own continuation for when the budget
opens again; that, not beat, is what works through the backlog.

    .venv/bin/python -m bench.invoice_latency
    .venv/bin/python -m bench.invoice_latency --minute-seconds 15 --latency-ms 200
    .venv/bin/python -m bench.invoice_latency --layouts separate --order-seconds 120

Needs PostgreSQL on 127.0.0.1:5432 (a database is created per layout and dropped after; or
`--database sqlite`) and Redis (DB 7, BENCH_REDIS_DB, flushed before and after). Each layout
stops by itself after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import _support as support

LAYOUTS = ("separate", "shared")


@dataclass(frozen=True)
class Settings:
    customers: int = 5000
    orders: int = 200
    minute_seconds: float = 10.0
    latency_ms: int = 150
    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    invoice_share: float = 0.2
    order_seconds: float | None = None
    """Orders arrive uniformly at random over this many seconds; default: the backlog's
    expected length (customers / 50 writes at the routine share of the minute)."""
    pass_interval: float | None = None
    """Seconds between beat's ticks; default: the production 300 s, time-scaled like the
    minute (50 s for a 10-s minute). A pass cut short by the budget sends its own
    continuation, so the backlog does not wait for the next tick."""
    concurrency: int = 2
    layouts: tuple[str, ...] = LAYOUTS
    database: str = "postgres"
    redis_db: int = support.DEFAULT_REDIS_DB
    max_seconds: float = 240.0
    seed: int = 8

    @property
    def reserved(self) -> int:
        return self._limits().reserved(self.minute_limit)

    @property
    def routine_open(self) -> int:
        """Calls per minute window open to routine work (limit minus the invoice reserve)."""
        return self.minute_limit - self.reserved

    def _limits(self) -> Any:
        from xerosync.xero.budget import BudgetLimits

        return BudgetLimits(
            minute=self.minute_limit,
            day=self.day_limit,
            concurrent=self.concurrent_limit,
            minute_seconds=self.minute_seconds,
            invoice_share=self.invoice_share,
        )

    @property
    def beat_interval(self) -> float:
        if self.pass_interval is not None:
            return self.pass_interval
        return 300 * self.minute_seconds / 60

    @property
    def arrival_seconds(self) -> float:
        if self.order_seconds is not None:
            return self.order_seconds
        writes = self.customers / 50
        return writes / max(1, self.routine_open - 1) * self.minute_seconds


@dataclass
class Window:
    start: float
    routine: int = 0
    invoice: int = 0
    refused: int = 0
    complete: bool = False


@dataclass
class Result:
    layout: str
    latencies: list[float]
    missing: int
    sandbox_429: int
    windows: list[Window]
    backlog_seconds: float | None
    pending_left: int
    elapsed: float
    invoices_created: int
    duplicates: int
    notes: list[str] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    def utilisation(self, open_per_window: int) -> float | None:
        full = [w for w in self.windows if w.complete]
        if not full:
            return None
        return sum(w.routine for w in full) / (len(full) * open_per_window)


# -- set-up --------------------------------------------------------------------------------
def _use_environment(env: dict[str, str]) -> None:
    """Point this process (the "CRM": it saves rows and calls .delay()) at the bench."""
    os.environ.clear()
    os.environ.update(env)
    from xerosync.settings import get_settings

    get_settings.cache_clear()


def _seed_crm(s: Settings, connection_id: int) -> list[int]:
    """The backlog (new customers, pending) and the orders (quotes of customers Xero has)."""
    from sqlalchemy.orm import Session

    from xerosync.db import get_engine
    from xerosync.models import Customer
    from xerosync.sync import outbox

    outbox.install()
    rng = random.Random(s.seed)
    with Session(get_engine()) as session:
        orders = support.quotes_for_imported_customers(
            session, connection_id, s.orders, rng, "bench"
        )
        session.add_all(
            Customer(
                connection_id=connection_id,
                name=f"Backlog Customer {n:05d}",
                email=f"backlog{n}@crm.example",
                default_currency="AUD",
            )
            for n in range(s.customers)
        )
        session.commit()
        return [o.id for o in orders]


def _start_workers(s: Settings, layout: str, env: dict[str, str], work: Path) -> list[Any]:
    python = sys.executable
    if layout == "separate":
        argvs = [
            [python, "-m", "xerosync", "worker", queue, "-c", str(s.concurrency)]
            for queue in ("invoices", "sync")
        ]
    else:
        argvs = [
            [python, "-m", "celery", "-A", "xerosync.app", "worker", "-Q", "invoices,sync",
             "-c", str(s.concurrency), "--hostname", f"shared{n}@%h", "--loglevel", "WARNING"]
            for n in (1, 2)
        ]  # fmt: skip
    return [
        support.spawn(argv, env, work / f"worker-{layout}-{n}.log", work)
        for n, argv in enumerate(argvs, start=1)
    ]


def _wait_for_workers(app: Any, count: int, procs: list[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker process exited during start-up; see its log")
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= count:
            return
    raise RuntimeError(f"{count} workers did not answer a ping within {timeout:g}s")


# -- the run -------------------------------------------------------------------------------
def _pending(conn: Any) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM xero_links WHERE kind = 'contact' AND status = 'pending'")
        ).scalar_one()
    )


def _invoiced(conn: Any, order_ids: list[int]) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM orders WHERE xero_invoice_id IS NOT NULL")
        ).scalar_one()
    )


def _drive(
    s: Settings, connection_id: int, order_ids: list[int]
) -> tuple[dict[int, float], float, float | None, int]:
    """Beat's ticks every beat_interval, orders at random moments; stops when every order has
    its invoice and the backlog is gone, or at max_seconds. Returns the .delay() times."""
    from sqlalchemy.orm import Session

    from xerosync.db import get_engine
    from xerosync.models import Order, OrderStatus
    from xerosync.tasks import create_invoice_for_order, run_pass_for

    rng = random.Random(s.seed)
    start = time.time() + 0.5
    moments = sorted(start + rng.uniform(0, s.arrival_seconds) for _ in order_ids)
    schedule = list(zip(moments, order_ids, strict=True))
    confirmed: dict[int, float] = {}
    next_pass = start
    backlog_end: float | None = None
    engine = get_engine()
    # The request log is kept from the reset on: the sandbox opens a minute window with the
    # first call after the last one closed, so the windows are rebuilt from the first call.
    with engine.connect() as conn, Session(engine) as session:
        while True:
            now = time.time()
            if now >= next_pass and backlog_end is None:
                run_pass_for.apply_async((connection_id,), expires=s.beat_interval)
                next_pass += s.beat_interval
            while schedule and schedule[0][0] <= now:
                _, order_id = schedule.pop(0)
                order = session.get_one(Order, order_id)
                order.status = OrderStatus.CONFIRMED.value
                order.confirmed_at = datetime.now(UTC)
                session.commit()
                confirmed[order_id] = time.time()
                create_invoice_for_order.delay(order_id)
            conn.rollback()
            if backlog_end is None and now > start and _pending(conn) == 0:
                backlog_end = time.time()
            done = not schedule and _invoiced(conn, order_ids) >= len(order_ids)
            if (done and backlog_end is not None) or now - start > s.max_seconds:
                pending_left = _pending(conn)
                return confirmed, start, backlog_end, pending_left
            time.sleep(0.05)


def _is_invoice_call(entry: Mapping[str, Any]) -> bool:
    """Calls the invoice task makes: its PUT, and the look-up before a second attempt."""
    if support.resource_of(entry) != "Invoices":
        return False
    return entry["method"] == "PUT" or "ContactIDs" in (entry.get("query") or {})


def _windows(log: list[dict[str, Any]], s: Settings, start: float, end: float) -> list[Window]:
    """Calls per sandbox minute window, windows opened the sandbox's way (the first call
    after the previous window closed opens the next); `complete` = wholly in [start, end]."""
    windows: list[Window] = []
    for entry in sorted(support.api_calls(log), key=lambda e: e["seq"]):
        at = datetime.fromisoformat(str(entry["at"])).timestamp()
        if not windows or at >= windows[-1].start + s.minute_seconds:
            windows.append(Window(at))
        current = windows[-1]
        if entry["status"] == 429:
            current.refused += 1
        elif entry["status"] == 401:
            continue
        elif _is_invoice_call(entry):
            current.invoice += 1
        else:
            current.routine += 1
    for w in windows:
        w.complete = w.start >= start and w.start + s.minute_seconds <= end
    return windows


def _dump(layout: str, log: list[dict[str, Any]], database_url: str) -> None:
    """With BENCH_DUMP=DIR: the sandbox's request log and the passes (sync_runs) as JSON,
    to see where a window's calls went."""
    target = os.environ.get("BENCH_DUMP")
    if not target:
        return
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{layout}-requests.json").write_text(json.dumps(log, default=str))
    from xerosync.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM sync_runs"))]
    finally:
        engine.dispose()
    (folder / f"{layout}-passes.json").write_text(json.dumps(runs, default=str))


def _measure(s: Settings, layout: str, control: Any, work: Path) -> Result:
    with support.database(s.database, work) as database_url, support.redis_database(
        s.redis_db
    ) as redis_url:
        env = support.same_limits(
            control,
            database_url=database_url,
            redis_url=redis_url,
            minute_limit=s.minute_limit,
            day_limit=s.day_limit,
            concurrent_limit=s.concurrent_limit,
            minute_seconds=s.minute_seconds,
            INVOICE_RESERVED_SHARE=s.invoice_share,
            SYNC_INTERVAL_SECONDS=max(1, round(s.beat_interval)),
        )
        connection_id = support.set_up_organisation(env, work)
        support.xerosync_cli(env, work, "sync")  # the first pass: Xero's customers come in
        saved = dict(os.environ)
        _use_environment(env)
        procs: list[Any] = []
        try:
            order_ids = _seed_crm(s, connection_id)
            from xerosync.app import app

            procs = _start_workers(s, layout, env, work)
            _wait_for_workers(app, len(procs), procs)
            control.config(latency_ms=s.latency_ms)
            confirmed, start, backlog_end, pending_left = _drive(s, connection_id, order_ids)
            elapsed = time.time() - start
        finally:
            for proc in procs:
                support.stop_group(proc, timeout=20)
            os.environ.clear()
            os.environ.update(saved)
        log = control.requests()
        _dump(layout, log, database_url)
        invoices = [
            i for i in control.records("Invoices") if "/crm/orders/" in str(i.get("Url") or "")
        ]
        created: dict[int, list[float]] = {}
        for invoice in invoices:
            order_id = int(str(invoice["Url"]).rsplit("/", 1)[1])
            ms = int(str(invoice["UpdatedDateUTC"]).split("(")[1].split("+")[0].split(")")[0])
            created.setdefault(order_id, []).append(ms / 1000)
        latencies = [min(created[o]) - t for o, t in confirmed.items() if o in created]
        end = backlog_end or time.time()
        return Result(
            layout=layout,
            latencies=latencies,
            missing=sum(1 for o in confirmed if o not in created),
            sandbox_429=support.served_429s(log),
            windows=_windows(log, s, start, end),
            backlog_seconds=(backlog_end - start) if backlog_end else None,
            pending_left=pending_left,
            elapsed=elapsed,
            invoices_created=sum(len(v) for v in created.values()),
            duplicates=sum(len(v) - 1 for v in created.values()),
        )


def run(settings: Settings | None = None) -> list[Result]:
    s = settings or Settings()
    results = []
    with support.workdir("bench-latency-") as work, support.sandbox_process(work) as sandbox:
        for layout in s.layouts:
            results.append(_measure(s, layout, sandbox.control, work))
            print_result(s, results[-1])
    return results


# -- the report ----------------------------------------------------------------------------
def print_settings(s: Settings) -> None:
    print("xerosync invoice-latency bench (issue 8: latency under load, budget use)")
    print(
        f"  settings: {s.customers} new customers pending; {s.orders} orders confirmed at "
        f"random over {s.arrival_seconds:.0f}s; limits minute={s.minute_limit} "
        f"day={s.day_limit} concurrent={s.concurrent_limit}, minute = {s.minute_seconds:g}s "
        f"(sandbox minute_seconds = XERO_MINUTE_SECONDS); invoice share {s.invoice_share:g} "
        f"({s.reserved}/minute reserved, {s.routine_open} open to routine work); sandbox "
        f"latency {s.latency_ms} ms; beat's pass enqueued every {s.beat_interval:g}s while the "
        f"backlog lasts (a pass cut short by the budget sends its own continuation); "
        f"worker concurrency {s.concurrency} (prefork); database {s.database}; "
        f"Redis DB {s.redis_db}; each layout stops after {s.max_seconds:g}s",
        flush=True,
    )
    supply = s.reserved * s.arrival_seconds / s.minute_seconds
    print(
        f"  arithmetic: {s.orders} invoices (1 call each) arrive over "
        f"{s.arrival_seconds / s.minute_seconds:.1f} minute windows, where the reserve alone "
        f"admits about {supply:.0f} invoice calls; the rest wait for what routine work leaves",
        flush=True,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}s"


def print_result(s: Settings, r: Result) -> None:
    p50, p95, p99 = (r.percentile(q) for q in (50, 95, 99))
    ok = p99 is not None and p99 < 2.0 and r.missing == 0
    print(f"  layout {r.layout}: {r.elapsed:.0f}s")
    print(
        f"    confirmation -> Draft in the sandbox ({len(r.latencies)} of "
        f"{len(r.latencies) + r.missing} orders): p50 {_fmt(p50)}  p95 {_fmt(p95)}  "
        f"p99 {_fmt(p99)}  max {_fmt(max(r.latencies, default=None))}  (target: p99 < 2s) "
        f"-> {support.verdict(ok)}"
    )
    if r.missing:
        print(f"    {r.missing} confirmed orders had no invoice when the run stopped")
    print(
        f"    invoices in the sandbox for the orders: {r.invoices_created} "
        f"(duplicates: {r.duplicates})"
    )
    print(f"    429s seen by the sandbox: {r.sandbox_429} (target: 0) -> "
          f"{support.verdict(r.sandbox_429 == 0)}")  # fmt: skip
    backlog = (
        f"{r.backlog_seconds:.0f}s"
        if r.backlog_seconds is not None
        else f"not cleared ({r.pending_left} customers still pending)"
    )
    use = r.utilisation(s.routine_open)
    full = [w for w in r.windows if w.complete]
    print(
        f"    backlog of {s.customers} customers: {backlog}; routine calls in the "
        f"{len(full)} complete windows inside it: {[w.routine for w in full]} of "
        f"{s.routine_open} open -> {'n/a' if use is None else f'{use:.1%}'} (target: >= 90%) "
        f"-> {support.verdict(use is not None and use >= 0.9)}"
    )
    print(
        "    per window (routine/invoice/429): "
        + " ".join(f"{w.routine}/{w.invoice}/{w.refused}" for w in r.windows),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Settings()
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--orders", type=int, default=defaults.orders)
    parser.add_argument("--minute-seconds", type=float, default=defaults.minute_seconds)
    parser.add_argument("--latency-ms", type=int, default=defaults.latency_ms)
    parser.add_argument("--order-seconds", type=float, default=None,
                        help="spread the orders over this many seconds")  # fmt: skip
    parser.add_argument("--pass-interval", type=float, default=None,
                        help="seconds between beat's ticks (default: 300 s, time-scaled)")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--database", choices=("sqlite", "postgres"), default=defaults.database)
    parser.add_argument("--redis-db", type=int, default=defaults.redis_db)
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds)
    args = parser.parse_args()
    layouts = tuple(x.strip() for x in args.layouts.split(",") if x.strip())
    if not set(layouts) <= set(LAYOUTS):
        parser.error(f"--layouts: choose from {', '.join(LAYOUTS)}")
    settings = Settings(
        customers=args.customers,
        orders=args.orders,
        minute_seconds=args.minute_seconds,
        latency_ms=args.latency_ms,
        order_seconds=args.order_seconds,
        pass_interval=args.pass_interval,
        concurrency=args.concurrency,
        layouts=layouts,
        database=args.database,
        redis_db=args.redis_db,
        max_seconds=args.max_seconds,
    )
    support.exit_cleanly_on_sigterm()
    print_settings(settings)
    run(settings)


if __name__ == "__main__":
    main()
