"""CPU per 1,000 imported records: the first routine pass over the sandbox's bulk data (issue 16).

A sandbox process is filled through its bulk endpoint (N contacts, M invoices); xerosync gets a
fresh database and Redis DB and connects the Demo Company; a **separate importing process**
runs the first routine pass (`xerosync.sync.jobs.routine_pass_for`) and reports its CPU time
(`time.process_time`: the sandbox and PostgreSQL are other processes), attributed to streams
page by page, its peak RSS and the records read. CPU per 1,000 records is the figure to
compare with tap-xero's on the same data (which only prints what it reads).

    .venv/bin/python -m bench.import_cpu                            # 20k contacts, 10k invoices
    .venv/bin/python -m bench.import_cpu --contacts 5000 --invoices 5000 --database postgres

With `BENCH_PROFILE=FILE` the importing process is profiled (cProfile) into FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from typing import Any

from bench import _support as support


def _child() -> None:
    from xerosync.sync import jobs, outbox

    outbox.install()
    connection_id = int(os.environ["BENCH_CONNECTION_ID"])
    cpu: dict[str, float] = {}
    rows: dict[str, int] = {}
    last = [time.process_time()]

    def on_page(stream: str, count: int, _total: int | None) -> None:
        now = time.process_time()
        cpu[stream] = cpu.get(stream, 0.0) + now - last[0]
        rows[stream] = rows.get(stream, 0) + count
        last[0] = now

    profile = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    last[0] = started
    if profiler is not None:
        profiler.enable()
    result = jobs.routine_pass_for(connection_id, on_page=on_page)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    total = time.process_time() - started
    counts = result.detail.get("counts", {})
    print(
        json.dumps(
            {
                "outcome": result.status,
                "error": result.error,
                "cpu_seconds": total,
                "stream_cpu": cpu,
                "stream_rows": rows,
                "read": {
                    n: counts.get(n, {}).get("read", 0)
                    for n in ("contacts", "items", "invoices", "credit_notes")
                },
                "peak_rss_mb": support.peak_rss_mb(),
            }
        ),
        flush=True,
    )


def run(contacts: int, invoices: int, database: str, redis_db: int) -> dict[str, Any]:
    with (
        support.workdir("bench-import-cpu-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(database, work) as database_url,
        support.redis_database(redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(minute_limit=10_000, day_limit=100_000)
        control.bulk(Contacts=contacts, Invoices=invoices)
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=10_000,
            XERO_DAY_LIMIT=100_000,
        )
        env["BENCH_CONNECTION_ID"] = str(support.set_up_organisation(env, work))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        out = work / "importer.out"
        child = support.spawn([sys.executable, "-m", "bench.import_cpu", "--child"], env, out, work)
        try:
            child.wait(timeout=3600)
        finally:
            support.stop_group(child)
        lines = [ln for ln in out.read_text().splitlines() if ln.startswith("{")]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"the importing process failed:\n{out.read_text()[-4000:]}")
        figures: dict[str, Any] = json.loads(lines[-1])
        return figures


def print_report(contacts: int, invoices: int, database: str, f: dict[str, Any]) -> None:
    read = sum(f["read"].values())
    print(f"first import: {contacts:,} contacts, {invoices:,} invoices ({database})")
    print(f"  outcome {f['outcome']}{' ' + f['error'] if f['error'] else ''}")
    print(f"  records read {read:,} {f['read']}; peak RSS {f['peak_rss_mb']:.0f} MiB")
    print(
        f"  CPU {f['cpu_seconds']:.2f} s: {f['cpu_seconds'] / read * 1000 * 1000:.0f} ms per 1,000"
    )
    for stream, seconds in f["stream_cpu"].items():
        n = f["stream_rows"].get(stream, 0)
        per = f"{seconds / n * 1e6:.0f} ms per 1,000" if n else "-"
        print(f"    {stream:<14}{n:>8,} rows {seconds:>8.2f} s  {per}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    args = parser.parse_args()
    if args.child:
        _child()
        return
    support.exit_cleanly_on_sigterm()
    figures = run(args.contacts, args.invoices, args.database, args.redis_db)
    print_report(args.contacts, args.invoices, args.database, figures)


if __name__ == "__main__":
    main()
