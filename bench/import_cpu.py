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

`--tap-xero PYTHON` also runs tap-xero (installed in a throwaway venv whose interpreter is
PYTHON: `python -m venv /tmp/tapxero-venv && /tmp/tapxero-venv/bin/pip install tap-xero six`;
tap-xero 2.6.0 imports `six` without declaring it) over the same sandbox data afterwards:
contacts, items, invoices and credit notes, its output counted and thrown away. tap-xero has
its two Xero URLs hard-coded (`tap_xero.client.BASE_URL` and the identity token URL), so a
small shim points both at the sandbox; nothing else of it is changed. Its CPU is the child's
(`RUSAGE_CHILDREN`), discovery excluded.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
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


TAP_SHIM = """
import os, sys, requests, tap_xero.client as client
SANDBOX = os.environ["SANDBOX_URL"].rstrip("/")
client.BASE_URL = SANDBOX + "/api.xro/2.0"
_post = requests.Session.post
def post(self, url, *args, **kwargs):
    if url == "https://identity.xero.com/connect/token":
        url = SANDBOX + "/connect/token"
    return _post(self, url, *args, **kwargs)
requests.Session.post = post
from tap_xero import main
sys.exit(main())
"""
TAP_STREAMS = ("contacts", "items", "invoices", "credit_notes")


def run_tap_xero(python: str, sandbox: Any, work: Path) -> dict[str, Any]:
    """tap-xero over the sandbox's data: records per stream and the CPU it took."""
    shim = work / "tap_shim.py"
    shim.write_text(TAP_SHIM)
    tokens = sandbox.control.authorize()
    config = work / "tap_config.json"
    config.write_text(
        json.dumps(
            {
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
                "refresh_token": tokens.refresh_token,
                "tenant_id": support_tenant(),
                "start_date": "2000-01-01T00:00:00Z",
                "user_agent": "xerosync-bench",
            }
        )
    )
    env = {**os.environ, "SANDBOX_URL": sandbox.url}
    base = [python, str(shim), "-c", str(config)]
    found = subprocess.run([*base, "--discover"], env=env, capture_output=True, text=True)
    if found.returncode != 0:
        raise RuntimeError(f"tap-xero --discover failed:\n{found.stderr[-3000:]}")
    catalog = json.loads(found.stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in TAP_STREAMS
    catalog_file = work / "tap_catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    out = work / "tap.out"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out.open("w") as sink:
        done = subprocess.run(
            [*base, "--catalog", str(catalog_file)], env=env, stdout=sink, stderr=subprocess.PIPE
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"tap-xero failed:\n{done.stderr.decode()[-3000:]}")
    records: dict[str, int] = {}
    with out.open() as lines:
        for line in lines:
            message = json.loads(line)
            if message.get("type") == "RECORD":
                records[message["stream"]] = records.get(message["stream"], 0) + 1
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"records": records, "cpu_seconds": cpu}


def support_tenant() -> str:
    from xerosync.sandbox import DEMO_TENANT_ID

    return str(DEMO_TENANT_ID)


def run(
    contacts: int, invoices: int, database: str, redis_db: int, tap_python: str | None = None
) -> dict[str, Any]:
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
        if tap_python:
            figures["tap_xero"] = run_tap_xero(tap_python, sandbox, work)
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
    tap = f.get("tap_xero")
    if tap:
        n = sum(tap["records"].values())
        ours = f["cpu_seconds"] / read * 1e6
        theirs = tap["cpu_seconds"] / n * 1e6
        print(f"  tap-xero: {n:,} records {tap['records']}")
        print(f"    CPU {tap['cpu_seconds']:.2f} s: {theirs:.0f} ms per 1,000")
        print(
            f"  xerosync / tap-xero per record: {ours / theirs:.2f}x (target <= 1): "
            f"{support.verdict(ours <= theirs)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    parser.add_argument("--tap-xero", metavar="PYTHON", help="tap-xero's venv interpreter")
    args = parser.parse_args()
    if args.child:
        _child()
        return
    support.exit_cleanly_on_sigterm()
    figures = run(args.contacts, args.invoices, args.database, args.redis_db, args.tap_xero)
    print_report(args.contacts, args.invoices, args.database, figures)


if __name__ == "__main__":
    main()
