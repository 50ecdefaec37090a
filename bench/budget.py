"""How well the shared rate budget uses Xero's limits, against the sandbox with real limits.

N processes x M threads make routine calls as fast as the budget allows (a denied caller waits
the `retry_after` it was told, as a Celery retry would), while one thread makes invoice-priority
calls at a steady pace. Printed: the settings, the sandbox's 429s (goal: 0), routine calls per
sandbox minute window against the share open to routine work (goal: ≥ 90%), and whether every
invoice call got its permit at once. Every call also takes a permit from the app-wide minute
budget, as xerosync's clients do. `bench.day_budget` runs a Starter-tier day.

    .venv/bin/python -m bench.budget                      # 2 x 4, 6 windows of 3 s
    .venv/bin/python -m bench.budget --minute-seconds 6 --windows 10

Needs Redis (REDIS_URL_BENCH, default redis://127.0.0.1:6379/15, a DB no test flushes); starts
its own sandbox unless --sandbox-url is given. Windows are segmented the sandbox's way (a window
opens with the first call after the previous one closed), from the sandbox's request log.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import redis

from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sandbox.control import SandboxControl
from xerosync.xero.auth import IdentityClient, RedisTokenStore, TokenManager, TokenSet
from xerosync.xero.budget import BudgetLimits, RateBudget, app_limits
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import BudgetExhausted, RateLimited, XeroError

ROUTINE_PATH = "Currencies"
INVOICE_PATH = "Organisation"


@dataclass(frozen=True)
class Settings:
    processes: int = 2
    threads: int = 4
    windows: int = 6
    minute_seconds: float = 3.0
    minute_limit: int = 60
    day_limit: int = 5000
    concurrent_limit: int = 5
    invoice_share: float = 0.2
    invoice_calls_per_window: int = 6
    latency_ms: int = 0


@dataclass(frozen=True)
class Plan:
    """What every worker process needs (picklable)."""

    settings: Settings
    sandbox_url: str
    redis_url: str
    token_prefix: str
    budget_prefix: str
    deadline: float


@dataclass
class Counts:
    ok: int = 0
    xero_429: int = 0
    denied: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def merge(self, other: Counts) -> None:
        self.ok += other.ok
        self.xero_429 += other.xero_429
        for key, value in other.denied.items():
            self.denied[key] = self.denied.get(key, 0) + value
        self.errors.extend(other.errors)


@dataclass
class Report:
    settings: Settings
    routine: Counts
    invoice_attempts: int
    invoice_granted_at_once: int
    invoice_429: int
    sandbox_429: int
    windows: list[dict[str, int]]
    routine_open: int
    elapsed: float
    invoice_denied: dict[str, int] = field(default_factory=dict)

    @property
    def complete_windows(self) -> list[dict[str, int]]:
        return [w for w in self.windows if w["complete"]]

    @property
    def utilisation(self) -> float:
        full = self.complete_windows
        if not full:
            return 0.0
        return sum(w["routine"] for w in full) / (len(full) * self.routine_open)


def _limits(s: Settings) -> BudgetLimits:
    return BudgetLimits(
        minute=s.minute_limit,
        day=s.day_limit,
        concurrent=s.concurrent_limit,
        minute_seconds=s.minute_seconds,
        invoice_share=s.invoice_share,
        lease_seconds=30,
        concurrent_retry_seconds=0.02,
    )


def _client(plan: Plan) -> XeroClient:
    conn = redis.Redis.from_url(plan.redis_url)
    store = RedisTokenStore(conn, None, prefix=plan.token_prefix)
    identity = IdentityClient.for_urls(
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        identity_url=plan.sandbox_url,
        login_url=plan.sandbox_url,
        base_url=plan.sandbox_url,
        timeout=10,
    )
    tokens = TokenManager(
        key=DEMO_TENANT_ID,
        store=store,
        identity=identity,
        redis_client=conn,
        lock_prefix=f"{plan.token_prefix}:lock",
    )
    budget = RateBudget(conn, _limits(plan.settings), prefix=plan.budget_prefix)
    app = app_limits(
        minute_seconds=plan.settings.minute_seconds, invoice_share=plan.settings.invoice_share
    )
    return XeroClient(
        api_url=f"{plan.sandbox_url}/api.xro/2.0",
        tenant_id=DEMO_TENANT_ID,
        tokens=tokens,
        budget=budget,
        app_budget=RateBudget(conn, app, prefix=f"{plan.budget_prefix}:app"),
        app_key="sandbox-client",
        timeout=10,
    )


def _routine_loop(plan: Plan, counts: Counts, lock: threading.Lock) -> None:
    client = _client(plan)
    mine = Counts()
    while (left := plan.deadline - time.time()) > 0:
        try:
            client.get_all(ROUTINE_PATH)
            mine.ok += 1
        except BudgetExhausted as exc:
            mine.denied[exc.dimension] = mine.denied.get(exc.dimension, 0) + 1
            time.sleep(min(exc.retry_after or 0.01, left))  # "come back later", compressed
        except RateLimited as exc:
            mine.xero_429 += 1
            time.sleep(min(exc.retry_after or 1.0, left))
        except XeroError as exc:
            mine.errors.append(repr(exc))
            time.sleep(0.05)
    with lock:
        counts.merge(mine)


def _process_main(plan: Plan, results: Any) -> None:
    counts, lock = Counts(), threading.Lock()
    threads = [
        threading.Thread(target=_routine_loop, args=(plan, counts, lock))
        for _ in range(plan.settings.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(asdict(counts))


def _segment(log: list[dict[str, Any]], window: float, deadline: float) -> list[dict[str, int]]:
    """Routine/invoice calls per sandbox minute window, windows opened the sandbox's way."""
    windows: list[dict[str, Any]] = []
    for entry in sorted(log, key=lambda e: e["seq"]):
        if not entry["path"].startswith("/api.xro/2.0/") or entry["status"] == 401:
            continue
        at = datetime.fromisoformat(entry["at"]).timestamp()
        if not windows or at >= windows[-1]["start"] + window:
            windows.append({"start": at, "routine": 0, "invoice": 0, "429": 0})
        current = windows[-1]
        if entry["status"] == 429:
            current["429"] += 1
        elif entry["path"].endswith("/" + ROUTINE_PATH):
            current["routine"] += 1
        elif entry["path"].endswith("/" + INVOICE_PATH):
            current["invoice"] += 1
    return [
        {
            "routine": w["routine"],
            "invoice": w["invoice"],
            "429": w["429"],
            "complete": int(w["start"] + window <= deadline),
        }
        for w in windows
    ]


def run(
    settings: Settings | None = None,
    *,
    sandbox_url: str | None = None,
    redis_url: str | None = None,
) -> Report:
    """Run the bench and return its figures (the test suite runs a short version)."""
    s = settings or Settings()
    redis_url = redis_url or os.environ.get("REDIS_URL_BENCH", "redis://127.0.0.1:6379/15")
    running = None
    if sandbox_url is None:
        from xerosync.sandbox.server import start_in_thread

        running = start_in_thread("127.0.0.1", 0)
        sandbox_url = running.url
    control = SandboxControl(sandbox_url)
    try:
        control.reset("demo")
        control.config(
            minute_limit=s.minute_limit,
            day_limit=s.day_limit,
            concurrent_limit=s.concurrent_limit,
            minute_seconds=s.minute_seconds,
            day_seconds=max(86400.0, s.minute_seconds * 1440),
            latency_ms=s.latency_ms,
        )
        run_id = uuid.uuid4().hex[:8]
        conn = redis.Redis.from_url(redis_url)
        tokens = control.authorize()
        RedisTokenStore(conn, None, prefix=f"bench:{run_id}:tokens").save(
            DEMO_TENANT_ID,
            TokenSet.from_response(tokens.raw, now=time.time()),
        )
        control.clear_requests()

        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        # Processes start slowly (spawn); the clock starts when they are all running.
        start = time.time() + 2.0
        plan = Plan(
            s,
            sandbox_url,
            redis_url,
            f"bench:{run_id}:tokens",
            f"bench:{run_id}:budget",
            deadline=start + s.windows * s.minute_seconds,
        )
        procs = [
            ctx.Process(target=_delayed, args=(plan, start, results)) for _ in range(s.processes)
        ]
        for p in procs:
            p.start()

        time.sleep(max(0.0, start - time.time()))
        invoice = _invoice_prober(plan)
        routine = Counts()
        for _ in procs:
            routine.merge(Counts(**results.get(timeout=120)))
        for p in procs:
            p.join(timeout=30)

        log = control.requests()
        windows = _segment(log, s.minute_seconds, plan.deadline)
        limits = _limits(s)
        return Report(
            settings=s,
            routine=routine,
            invoice_attempts=invoice[0],
            invoice_granted_at_once=invoice[1],
            invoice_429=invoice[2],
            invoice_denied=invoice[3],
            sandbox_429=sum(1 for e in log if e["status"] == 429),
            windows=windows,
            routine_open=limits.minute - limits.reserved(limits.minute),
            elapsed=time.time() - start,
        )
    finally:
        if running is not None:
            running.stop()


def _delayed(plan: Plan, start: float, results: Any) -> None:
    time.sleep(max(0.0, start - time.time()))
    _process_main(plan, results)


def _invoice_prober(plan: Plan) -> tuple[int, int, int, dict[str, int]]:
    """Invoice-priority calls at a steady pace: (attempts, granted at once, Xero 429s,
    denials by the budget's dimension)."""
    client = _client(plan)
    interval = plan.settings.minute_seconds / max(1, plan.settings.invoice_calls_per_window)
    attempts = granted = got_429 = 0
    denied: dict[str, int] = {}
    next_at = time.time() + interval / 2
    while next_at < plan.deadline:
        time.sleep(max(0.0, next_at - time.time()))
        attempts += 1
        try:
            client.get_all(INVOICE_PATH, priority="invoice")
            granted += 1
        except BudgetExhausted as exc:
            denied[exc.dimension] = denied.get(exc.dimension, 0) + 1
        except RateLimited:
            got_429 += 1
        next_at += interval
    return attempts, granted, got_429, denied


def print_report(report: Report) -> None:
    s = report.settings
    limits = _limits(s)
    print("xerosync budget bench")
    print(
        f"  settings: {s.processes} processes x {s.threads} threads; minute window "
        f"{s.minute_seconds:g}s x {s.windows}; limits minute={s.minute_limit} "
        f"day={s.day_limit} concurrent={s.concurrent_limit}; invoice share "
        f"{s.invoice_share:g} (reserved {limits.reserved(limits.minute)}/minute, "
        f"{limits.reserved(limits.concurrent)} in flight); margin {limits.minute_margin}; "
        f"sandbox latency {s.latency_ms} ms"
    )
    print(f"  elapsed: {report.elapsed:.1f}s")
    print(f"  routine calls ok: {report.routine.ok}; denied by budget: {report.routine.denied}")
    print(
        f"  429s from the sandbox: {report.sandbox_429} (routine saw {report.routine.xero_429},"
        f" invoice saw {report.invoice_429})"
    )
    if report.routine.errors:
        print(f"  other errors: {len(report.routine.errors)}, e.g. {report.routine.errors[0]}")
    print(
        f"  routine share open per window: {report.routine_open} "
        f"(= {s.minute_limit} - reserve); usable after margin: {limits.routine_minute}"
    )
    for number, w in enumerate(report.windows, start=1):
        tag = "" if w["complete"] else "  (cut by the end of the run)"
        print(
            f"    window {number}: routine {w['routine']:>3}  invoice {w['invoice']:>2}"
            f"  429 {w['429']}{tag}"
        )
    print(f"  routine use of its open share (complete windows): {report.utilisation:.1%}")
    print(
        f"  invoice calls: {report.invoice_attempts}, permit at once: "
        f"{report.invoice_granted_at_once}"
        + (f"; denied by budget: {report.invoice_denied}" if report.invoice_denied else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--minute-seconds", type=float, default=3.0)
    parser.add_argument("--minute-limit", type=int, default=60)
    parser.add_argument("--concurrent-limit", type=int, default=5)
    parser.add_argument("--invoice-share", type=float, default=0.2)
    parser.add_argument("--invoice-calls-per-window", type=int, default=6)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--sandbox-url", default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    settings = Settings(
        processes=args.processes,
        threads=args.threads,
        windows=args.windows,
        minute_seconds=args.minute_seconds,
        minute_limit=args.minute_limit,
        concurrent_limit=args.concurrent_limit,
        invoice_share=args.invoice_share,
        invoice_calls_per_window=args.invoice_calls_per_window,
        latency_ms=args.latency_ms,
    )
    print_report(run(settings, sandbox_url=args.sandbox_url, redis_url=args.redis_url))


if __name__ == "__main__":
    main()
