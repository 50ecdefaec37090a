"""A first import at scale: Xero calls per record, peak RSS and wall time (issues 6 and 8).

For each size, a fresh sandbox process is filled through its control endpoint
(`POST /_sandbox/tenants/{tenant}/bulk`: N contacts and M invoices, about 90% of them ACCREC),
xerosync gets a fresh database and Redis DB, the Demo Company is connected (`xerosync
connect`, `xerosync template`), and then a **separate importing process** runs the first
routine pass (`xerosync.sync.jobs.routine_pass_for`: contacts, items, push, invoices, credit
notes). That process reports its own peak RSS (`getrusage` ru_maxrss), its RSS before the pass
and the pass's wall time; the calls are counted from the sandbox's request log. Neither the
sandbox's memory nor this parent's counts in the figure.

Targets: one call per 1,000 records read; memory bounded (peak RSS does not grow with the
number of records: compare the sizes).

    .venv/bin/python -m bench.import_scale                # 20k+20k, 1k+20k, 1k+50k
    .venv/bin/python -m bench.import_scale --sizes 20000:20000 --timeout 1800   # issue 6
    .venv/bin/python -m bench.import_scale --sizes 1000:100000 --timeout 900   # issue 8

Each import is stopped after `--timeout` seconds (default 240) so a run stays bounded; a
stopped import still shows its calls, its seconds per page and its peak RSS so far.

Limits are raised (sandbox and xerosync alike) so the pass is not cut into several by the
minute budget: under Xero's real 60 calls a minute a 100k-invoice first import spans a few
passes, each resuming from the committed cursor; this bench measures calls and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import _support as support


@dataclass(frozen=True)
class Settings:
    sizes: tuple[tuple[int, int], ...] = ((20_000, 20_000), (1_000, 20_000), (1_000, 50_000))
    database: str = "sqlite"
    redis_db: int = support.DEFAULT_REDIS_DB
    minute_limit: int = 10_000
    day_limit: int = 100_000
    timeout: float = 240.0


@dataclass
class Run:
    contacts: int
    invoices: int
    accrec: int
    outcome: str
    records_read: dict[str, int]
    calls: dict[str, int]
    page_seconds: dict[str, list[float]]
    rss_before_mb: float
    peak_rss_mb: float
    wall_seconds: float
    generate_seconds: float
    error: str | None = None
    peak_during: str = "?"
    """The page the importer was on when its RSS last rose (from the poller, 0.2s grain)."""
    served_429s: int = 0

    @property
    def finished(self) -> bool:
        return self.outcome == "ok"

    @property
    def read_total(self) -> int:
        return sum(self.records_read.values())

    @property
    def call_total(self) -> int:
        return sum(self.calls.values())

    @property
    def ideal_calls(self) -> int:
        """Xero's paging floor: a page per 1,000 (an exact multiple costs an empty page)."""
        return sum(n // 1000 + 1 for n in self.records_read.values())


@dataclass
class Report:
    settings: Settings
    runs: list[Run] = field(default_factory=list)


def _child() -> None:
    """The importing process: one first pass, then its figures as one JSON line."""
    from xerosync.sync import jobs, outbox

    outbox.install()
    connection_id = int(os.environ["BENCH_CONNECTION_ID"])
    baseline = support.current_rss_mb()
    started = time.perf_counter()
    rss_by_page: list[tuple[str, float, float]] = []
    result = jobs.routine_pass_for(
        connection_id,
        on_page=lambda stream, _rows, _total: rss_by_page.append(
            (stream, support.current_rss_mb(), support.peak_rss_mb())
        ),
    )
    wall = time.perf_counter() - started
    if os.environ.get("BENCH_RSS_TRACE"):
        Path(os.environ["BENCH_RSS_TRACE"]).write_text(json.dumps(rss_by_page))
    counts = result.detail.get("counts", {})
    print(
        json.dumps(
            {
                "outcome": result.status,
                "error": result.error,
                "read": {
                    name: counts.get(name, {}).get("read", 0)
                    for name in ("contacts", "items", "invoices", "credit_notes")
                },
                "rss_before_mb": baseline,
                "peak_rss_mb": support.peak_rss_mb(),
                "wall_seconds": wall,
            }
        ),
        flush=True,
    )


def _page_seconds(log: list[dict[str, Any]], end: float) -> dict[str, list[float]]:
    """Per stream, seconds from each page's request to the next request: the time the
    importer spent applying and committing that page (the sandbox answers in milliseconds)."""
    gets = sorted(support.api_calls(log), key=lambda e: e["seq"])
    stamps = [datetime.fromisoformat(str(e["at"])).timestamp() for e in gets]
    stamps.append(end)
    pages: dict[str, list[float]] = {}
    for entry, at, after in zip(gets, stamps, stamps[1:], strict=False):
        pages.setdefault(support.resource_of(entry), []).append(after - at)
    return pages


def _during(log: list[dict[str, Any]], at: float) -> str:
    """Which stream and page the importer had last asked for at `at`."""
    seen: dict[str, int] = {}
    last = "set-up"
    for entry in sorted(support.api_calls(log), key=lambda e: e["seq"]):
        if datetime.fromisoformat(str(entry["at"])).timestamp() > at:
            break
        resource = support.resource_of(entry)
        seen[resource] = seen.get(resource, 0) + 1
        last = f"{resource} page {seen[resource]}"
    return last


def _one(s: Settings, contacts: int, invoices: int) -> Run:
    with (
        support.workdir("bench-import-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(minute_limit=s.minute_limit, day_limit=s.day_limit)
        started = time.perf_counter()
        control.bulk(Contacts=contacts, Invoices=invoices)
        generated = time.perf_counter() - started
        accrec = sum(1 for i in control.records("Invoices") if i.get("Type") == "ACCREC")
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=s.minute_limit,
            XERO_DAY_LIMIT=s.day_limit,
        )
        env["BENCH_CONNECTION_ID"] = str(support.set_up_organisation(env, work))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        control.clear_requests()
        out = work / "importer.out"
        child = support.spawn(
            [sys.executable, "-m", "bench.import_scale", "--child"], env, out, work
        )
        started = time.perf_counter()
        peak, peak_at = 0.0, time.time()
        try:
            while child.poll() is None and time.perf_counter() - started < s.timeout:
                now_peak = support.peak_rss_of(child.pid)
                if now_peak > peak:
                    peak, peak_at = now_peak, time.time()
                time.sleep(0.2)
            timed_out = child.poll() is None
        finally:
            support.stop_group(child)
        wall = time.perf_counter() - started
        refused = support.served_429s(control.requests())
        log = control.requests(method="GET")
        table = support.call_table(log)
        calls = {f"GET {res}": n for (_, res), n in sorted(table.items())}
        pages = _page_seconds(log, time.time())
        peak_during = _during(log, peak_at)
        if timed_out:
            return Run(
                contacts, invoices, accrec, f"stopped after {s.timeout:g}s",
                {}, calls, pages, 0.0, peak, wall, generated, None, peak_during, refused,
            )  # fmt: skip
        lines = out.read_text().strip().splitlines()
        if child.returncode != 0 or not lines or not lines[-1].startswith("{"):
            raise RuntimeError(f"the importing process failed:\n{out.read_text()[-4000:]}")
        figures = json.loads(lines[-1])
        return Run(
            contacts=contacts,
            invoices=invoices,
            accrec=accrec,
            outcome=figures["outcome"],
            records_read=figures["read"],
            calls=calls,
            page_seconds=pages,
            rss_before_mb=figures["rss_before_mb"],
            peak_rss_mb=figures["peak_rss_mb"],
            wall_seconds=figures["wall_seconds"],
            generate_seconds=generated,
            error=figures["error"],
            peak_during=peak_during,
            served_429s=refused,
        )


def run(settings: Settings | None = None) -> Iterator[Run]:
    """One Run per size, as each finishes."""
    s = settings or Settings()
    for contacts, invoices in s.sizes:
        yield _one(s, contacts, invoices)


def print_settings(s: Settings) -> None:
    print("xerosync import-scale bench (issues 6, 8: first import, calls per record, memory)")
    print(
        f"  settings: sizes (contacts:invoices in the sandbox) "
        f"{', '.join(f'{c}:{i}' for c, i in s.sizes)}; database {s.database}; Redis DB "
        f"{s.redis_db}; limits raised to minute={s.minute_limit} day={s.day_limit} (sandbox and "
        f"xerosync) so the first import is one pass; sandbox latency 0; pageSize 1000; "
        f"importer stopped after {s.timeout:g}s; the sandbox and this parent are separate "
        f"processes from the importer",
        flush=True,
    )


def _pages(seconds: list[float]) -> str:
    if len(seconds) <= 6:
        return ", ".join(f"{x:.1f}" for x in seconds)
    head = ", ".join(f"{x:.1f}" for x in seconds[:3])
    tail = ", ".join(f"{x:.1f}" for x in seconds[-3:])
    return f"{head}, ... {tail}"


def print_run(r: Run) -> None:
    done = f"pass {r.outcome}{f' ({r.error})' if r.error else ''}"
    print(
        f"  {r.contacts:,} contacts + {r.invoices:,} invoices ({r.accrec:,} ACCREC): {done}, "
        f"{r.wall_seconds:.1f}s wall (sandbox generated the data in {r.generate_seconds:.1f}s)"
    )
    calls = ", ".join(f"{k}: {v}" for k, v in r.calls.items())
    print(
        f"      429s served by the sandbox: {r.served_429s} (target: 0) -> "
        f"{support.verdict(r.served_429s == 0)}"
    )
    for resource, seconds in r.page_seconds.items():
        print(
            f"      {resource}: {len(seconds)} pages, seconds per page (apply + commit): "
            f"{_pages(seconds)}"
        )
    if not r.finished:
        print(f"      calls so far: {r.call_total} ({calls})")
        print(
            f"      importer peak RSS when stopped: {r.peak_rss_mb:.0f} MiB (last rise while "
            f"applying {r.peak_during}) -> target "
            f"NOT MEASURED: the first import did not finish in the time allowed"
        )
        return
    per_1000 = r.call_total / (r.read_total / 1000) if r.read_total else 0.0
    print(f"      records read: {r.records_read} = {r.read_total:,}")
    print(
        f"      calls: {r.call_total} ({calls}) = {per_1000:.2f} per 1,000 records (target: 1;"
        f" paging floor {r.ideal_calls}) -> {support.verdict(r.call_total <= r.ideal_calls)}"
    )
    print(
        f"      importer RSS: {r.rss_before_mb:.0f} MiB before the pass, peak "
        f"{r.peak_rss_mb:.0f} MiB (+{r.peak_rss_mb - r.rss_before_mb:.0f} MiB)",
        flush=True,
    )


def print_bound(runs: list[Run]) -> None:
    finished = [r for r in runs if r.finished]
    if len(finished) < 2:
        return
    small = min(finished, key=lambda r: r.read_total)
    large = max(finished, key=lambda r: r.read_total)
    grow = large.peak_rss_mb - small.peak_rss_mb
    ratio = large.read_total / max(1, small.read_total)
    bounded = grow <= max(25.0, 0.1 * small.peak_rss_mb)
    print(
        f"  memory bound: {ratio:.1f}x the records ({small.read_total:,} -> "
        f"{large.read_total:,}) moved the importer's peak RSS by {grow:+.0f} MiB "
        f"({small.peak_rss_mb:.0f} -> {large.peak_rss_mb:.0f} MiB) (target: flat, within "
        f"25 MiB or 10%) -> {support.verdict(bounded)}"
    )


def _sizes(raw: str) -> tuple[tuple[int, int], ...]:
    pairs = []
    for part in raw.split(","):
        contacts, _, invoices = part.partition(":")
        pairs.append((int(contacts), int(invoices or 0)))
    return tuple(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=Settings.sizes,
                        help="contacts:invoices[,contacts:invoices...]")  # fmt: skip
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    parser.add_argument("--timeout", type=float, default=Settings.timeout,
                        help="seconds before an unfinished import is stopped")  # fmt: skip
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child()
        return
    support.exit_cleanly_on_sigterm()
    settings = Settings(
        sizes=args.sizes, database=args.database, redis_db=args.redis_db, timeout=args.timeout
    )
    print_settings(settings)
    runs = []
    for one in run(settings):
        print_run(one)
        runs.append(one)
    print_bound(runs)


if __name__ == "__main__":
    main()
