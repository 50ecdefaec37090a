"""A Starter-tier day, scaled down, against the sandbox: the budget learns the lower day limit
from Xero's headers, routine work stops at its share of the day, and invoices still get the
whole reserve after it has.

Threads make routine calls as fast as the budget allows (a denied caller waits what it was
told, up to a tenth of a second), while one thread makes an invoice-priority call now and then;
once routine work is refused for the day, invoice calls go on until the budget refuses them
too. Printed: the limits, what the budget learned, routine calls against routine's share of
the day, invoice calls granted before and after routine stopped against the reserve, the
sandbox's 429s (target: 0), and the day as `RateBudget.day_left` reads it.

    .venv/bin/python -m bench.day_budget                   # Starter day of 200, configured 1000
    .venv/bin/python -m bench.day_budget --tier-day 1000 --configured-day 5000   # Xero's own

Needs Redis (REDIS_URL_BENCH, default redis://127.0.0.1:6379/15, not a DB the tests flush:
a flush mid-run is a Redis that lost its counts; keys under a run's own prefix); starts its
own sandbox unless --sandbox-url is given.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis

from bench._support import served_429s
from xerosync.sandbox import DEMO_TENANT_ID
from xerosync.sandbox.control import SandboxControl
from xerosync.xero.auth import IdentityClient, RedisTokenStore, TokenManager, TokenSet
from xerosync.xero.budget import BudgetLimits, DayLeft, RateBudget, app_limits
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import BudgetExhausted, RateLimited, XeroError

PATH = "Currencies"


@dataclass(frozen=True)
class Settings:
    tier_day: int = 200
    """The sandbox's day limit: Xero's Starter 1,000, scaled down."""
    configured_day: int = 1000
    """XERO_DAY_LIMIT as configured: every other tier's 5,000, scaled the same."""
    minute_limit: int = 60
    minute_seconds: float = 1.0
    invoice_share: float = 0.2
    threads: int = 4
    invoice_interval: float = 0.5
    timeout: float = 60.0


@dataclass
class Tally:
    routine_ok: int = 0
    routine_denied: dict[str, int] = field(default_factory=dict)
    invoice_before: int = 0
    invoice_after: int = 0
    invoice_denied: dict[str, int] = field(default_factory=dict)
    xero_429: int = 0
    errors: list[str] = field(default_factory=list)
    routine_stopped_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Report:
    settings: Settings
    limits: BudgetLimits
    tally: Tally
    learned: DayLeft
    final: DayLeft
    sandbox_429: int
    elapsed: float


def _limits(s: Settings) -> BudgetLimits:
    return BudgetLimits(
        minute=s.minute_limit,
        day=s.configured_day,
        minute_seconds=s.minute_seconds,
        invoice_share=s.invoice_share,
        known_day_limits=(s.tier_day, s.configured_day),
        lease_seconds=30,
        concurrent_retry_seconds=0.02,
    )


def _client(s: Settings, sandbox_url: str, redis_url: str, prefix: str) -> XeroClient:
    conn = redis.Redis.from_url(redis_url)
    identity = IdentityClient.for_urls(
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        identity_url=sandbox_url,
        login_url=sandbox_url,
        base_url=sandbox_url,
        timeout=10,
    )
    tokens = TokenManager(
        key=DEMO_TENANT_ID,
        store=RedisTokenStore(conn, None, prefix=f"{prefix}:tokens"),
        identity=identity,
        redis_client=conn,
        lock_prefix=f"{prefix}:tokens:lock",
    )
    return XeroClient(
        api_url=f"{sandbox_url}/api.xro/2.0",
        tenant_id=DEMO_TENANT_ID,
        tokens=tokens,
        budget=RateBudget(conn, _limits(s), prefix=f"{prefix}:budget"),
        app_budget=RateBudget(
            conn,
            app_limits(minute_seconds=s.minute_seconds, invoice_share=s.invoice_share),
            prefix=f"{prefix}:app",
        ),
        app_key="sandbox-client",
        timeout=10,
    )


def _routine(client: XeroClient, tally: Tally, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            client.get_all(PATH)
            with tally.lock:
                tally.routine_ok += 1
        except BudgetExhausted as exc:
            with tally.lock:
                tally.routine_denied[exc.dimension] = tally.routine_denied.get(exc.dimension, 0) + 1
                if exc.dimension == "day" and tally.routine_stopped_at is None:
                    tally.routine_stopped_at = time.time()
            time.sleep(min(exc.retry_after or 0.01, 0.1))
        except RateLimited as exc:
            with tally.lock:
                tally.xero_429 += 1
            time.sleep(min(exc.retry_after or 1.0, 1.0))
        except XeroError as exc:
            with tally.lock:
                tally.errors.append(repr(exc))
            time.sleep(0.05)


def _invoices(client: XeroClient, s: Settings, tally: Tally, deadline: float) -> None:
    """Now and then while routine work runs; after it stops for the day, until refused."""
    while time.time() < deadline:
        after = tally.routine_stopped_at is not None
        try:
            client.get_all(PATH, priority="invoice")
            with tally.lock:
                if after:
                    tally.invoice_after += 1
                else:
                    tally.invoice_before += 1
        except BudgetExhausted as exc:
            with tally.lock:
                tally.invoice_denied[exc.dimension] = tally.invoice_denied.get(exc.dimension, 0) + 1
            if after and exc.dimension == "day":
                return
            time.sleep(min(exc.retry_after or 0.01, 0.1))
            continue
        except RateLimited:
            with tally.lock:
                tally.xero_429 += 1
        time.sleep(0.01 if after else s.invoice_interval)


def run(
    settings: Settings | None = None,
    *,
    sandbox_url: str | None = None,
    redis_url: str | None = None,
) -> Report:
    """Run the bench and return its figures (the test suite runs it too)."""
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
            day_limit=s.tier_day,
            minute_seconds=s.minute_seconds,
            day_seconds=86400.0,
        )
        prefix = f"bench:day:{uuid.uuid4().hex[:8]}"
        conn = redis.Redis.from_url(redis_url)
        RedisTokenStore(conn, None, prefix=f"{prefix}:tokens").save(
            DEMO_TENANT_ID, TokenSet.from_response(control.authorize().raw, now=time.time())
        )
        control.clear_requests()
        budget = RateBudget(conn, _limits(s), prefix=f"{prefix}:budget")

        tally, stop = Tally(), threading.Event()
        start = time.time()
        deadline = start + s.timeout
        workers = [
            threading.Thread(
                target=_routine, args=(_client(s, sandbox_url, redis_url, prefix), tally, stop)
            )
            for _ in range(s.threads)
        ]
        for w in workers:
            w.start()
        prober = threading.Thread(
            target=_invoices,
            args=(_client(s, sandbox_url, redis_url, prefix), s, tally, deadline),
        )
        prober.start()
        while tally.routine_stopped_at is None and time.time() < deadline:
            time.sleep(0.05)
        learned = budget.day_left(DEMO_TENANT_ID)
        prober.join()
        stop.set()
        for w in workers:
            w.join()
        return Report(
            settings=s,
            limits=_limits(s),
            tally=tally,
            learned=learned,
            final=budget.day_left(DEMO_TENANT_ID),
            sandbox_429=served_429s(control.requests()),
            elapsed=time.time() - start,
        )
    finally:
        if running is not None:
            running.stop()


def routine_share(report: Report) -> int:
    """Routine work's share of the learned day: the limit less the margin and the reserve."""
    limit = report.learned.limit
    return limit - report.limits.day_margin - report.limits.reserved(limit)


def print_report(report: Report) -> None:
    s, t, lim = report.settings, report.tally, report.limits
    reserve = lim.reserved(report.learned.limit)
    print(f"xerosync day budget bench (a Starter-tier day of {s.tier_day} calls)")
    print(
        f"  settings: sandbox day limit {s.tier_day} (the tier's); configured {s.configured_day};"
        f" known tiers {lim.known_day_limits}; minute {s.minute_limit} per {s.minute_seconds:g}s;"
        f" invoice share {s.invoice_share:g}; day margin {lim.day_margin}; {s.threads} routine"
        " threads"
    )
    print(f"  elapsed: {report.elapsed:.1f}s")
    print(f"  day limit learned from the headers: {report.learned.limit}")
    share = routine_share(report)
    print(
        f"  routine calls granted: {t.routine_ok} (its share of the day: {share}) -> "
        f"{'OK' if t.routine_ok <= share else 'OVER'}; denied: {t.routine_denied}"
    )
    granted = t.invoice_before + t.invoice_after
    print(
        f"  invoice calls granted: {t.invoice_before} while routine ran + {t.invoice_after} after"
        f" it stopped = {granted} (the reserve: {reserve}) -> "
        f"{'OK' if granted >= reserve else 'SHORT'}; denied: {t.invoice_denied}"
    )
    spent = t.routine_ok + granted
    print(
        f"  day spent: {spent} of {report.learned.limit} (all but the margin of {lim.day_margin})"
        " -- an invoice call granted before Xero's first answer is not known to have come out"
        " of the reserve, so it may take one of routine's calls instead"
    )
    print(
        f"  429s served by the sandbox: {report.sandbox_429} (target: 0); seen by callers:"
        f" {t.xero_429}"
    )
    if t.errors:
        print(f"  other errors: {len(t.errors)}, e.g. {t.errors[0]}")
    print(f"  day_left at the end: {report.final}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier-day", type=int, default=200)
    parser.add_argument("--configured-day", type=int, default=1000)
    parser.add_argument("--minute-limit", type=int, default=60)
    parser.add_argument("--minute-seconds", type=float, default=1.0)
    parser.add_argument("--invoice-share", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--sandbox-url", default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    settings = Settings(
        tier_day=args.tier_day,
        configured_day=args.configured_day,
        minute_limit=args.minute_limit,
        minute_seconds=args.minute_seconds,
        invoice_share=args.invoice_share,
        threads=args.threads,
    )
    print_report(run(settings, sandbox_url=args.sandbox_url, redis_url=args.redis_url))


if __name__ == "__main__":
    main()
