"""What a routine pass costs when nothing changed, at 20,000 customers (issue 16).

A sandbox process holds N contacts (`POST /_sandbox/tenants/{tenant}/bulk`); xerosync gets a
fresh database and Redis DB and connects the Demo Company. A **separate measuring process**
then runs, in order, through `xerosync.sync.jobs.routine_pass_for` (the routine pass the beat
task runs: contacts, items in, push, orders, invoices, credit notes in):

1. the first pass (the import; its CPU per 1,000 records read is printed too),
2. one settling pass (it looks once at the rows the first pass wrote),
3. `--idle` idle passes: nothing changed on either side,
4. one pass after `--touch` customers were changed with raw SQL (no ORM, as another
   application would): they must be pushed, and the pass must cost in proportion to them,
5. one pass after every link forgot the version it saw (`seen_version = NULL`): what every
   pass cost before row versions, when the pass re-derived every customer's fingerprint.

For each pass: CPU milliseconds of the measuring process (`time.process_time`; the sandbox is
another process and PostgreSQL another still), database statements (SQLAlchemy's
`before_cursor_execute`), Redis commands (pipelined ones counted one by one) and Xero calls.

With `BENCH_PROFILE=DIR` each pass is also profiled (cProfile) into DIR/<pass>.prof (the
profiler's own cost then inflates the CPU figures).

Target: an idle pass under 50 ms of CPU at 20,000 customers.

    .venv/bin/python -m bench.idle_cpu                          # 20,000 customers, SQLite
    .venv/bin/python -m bench.idle_cpu --database postgres
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from bench import _support as support


@dataclass(frozen=True)
class Settings:
    customers: int = 20_000
    database: str = "sqlite"
    idle: int = 5
    touch: int = 100
    redis_db: int = support.DEFAULT_REDIS_DB
    minute_limit: int = 10_000
    day_limit: int = 100_000


class Counters:
    """Database statements, Redis commands and HTTP calls of this process, as they happen."""

    def __init__(self) -> None:
        self.statements = 0
        self.redis = 0
        self.http = 0

    def install(self) -> None:
        import redis
        import requests
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def statement(*_args: Any) -> None:
            self.statements += 1

        event.listen(Engine, "before_cursor_execute", statement)
        command, execute, send = (
            redis.Redis.execute_command,
            redis.client.Pipeline.execute,
            requests.Session.send,
        )

        def counted_command(client: Any, *args: Any, **kwargs: Any) -> Any:
            if not isinstance(client, redis.client.Pipeline):
                self.redis += 1
            return command(client, *args, **kwargs)

        def counted_execute(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            self.redis += len(pipe.command_stack)
            return execute(pipe, *args, **kwargs)

        def counted_send(session: Any, request: Any, **kwargs: Any) -> Any:
            if "/api.xro/" in str(request.url):
                self.http += 1
            return send(session, request, **kwargs)

        redis.Redis.execute_command = counted_command  # type: ignore[method-assign]
        redis.client.Pipeline.execute = counted_execute  # type: ignore[method-assign]
        requests.Session.send = counted_send  # type: ignore[method-assign]

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.redis, self.http


def _measured(counters: Counters, label: str, connection_id: int) -> dict[str, Any]:
    from xerosync.sync import jobs

    profile_dir = os.environ.get("BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_dir else None
    before = counters.snapshot()
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = jobs.routine_pass_for(connection_id)
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.dump_stats(os.path.join(str(profile_dir), label.replace(" ", "_") + ".prof"))
    after = counters.snapshot()
    counts = result.detail.get("counts", {})
    return {
        "pass": label,
        "outcome": result.status,
        "cpu_ms": cpu * 1000,
        "wall_ms": wall * 1000,
        "statements": after[0] - before[0],
        "redis": after[1] - before[1],
        "xero_calls": after[2] - before[2],
        "read": sum(counts.get(n, {}).get("read", 0) for n in ("contacts", "items")),
        "pushed": sum(
            v for d in counts.get("push", {}).values() for k, v in d.items() if k != "unchanged"
        ),
    }


def _child() -> None:
    """The measuring process: the passes above, one JSON line each."""
    from sqlalchemy import text

    from xerosync.db import get_engine
    from xerosync.sync import outbox

    outbox.install()
    counters = Counters()
    counters.install()
    connection_id = int(os.environ["BENCH_CONNECTION_ID"])
    idle, touch = int(os.environ["BENCH_IDLE"]), int(os.environ["BENCH_TOUCH"])

    def emit(figures: dict[str, Any]) -> None:
        print(json.dumps(figures), flush=True)

    emit(_measured(counters, "first (import)", connection_id))
    emit(_measured(counters, "settling", connection_id))
    for i in range(idle):
        emit(_measured(counters, f"idle {i + 1}", connection_id))
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE customers SET email = 'touched-' || id || '@bench.test' WHERE id IN "
                "(SELECT id FROM customers ORDER BY id LIMIT :n)"
            ),
            {"n": touch},
        )
    emit(_measured(counters, f"{touch} raw SQL updates", connection_id))
    emit(_measured(counters, "idle after them", connection_id))
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE xero_links SET seen_version = NULL"))
    emit(_measured(counters, "every version forgotten", connection_id))


def run(s: Settings) -> list[dict[str, Any]]:
    with (
        support.workdir("bench-idle-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(minute_limit=s.minute_limit, day_limit=s.day_limit)
        control.bulk(Contacts=s.customers, Invoices=0)
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=s.minute_limit,
            XERO_DAY_LIMIT=s.day_limit,
            BENCH_IDLE=s.idle,
            BENCH_TOUCH=s.touch,
        )
        env["BENCH_CONNECTION_ID"] = str(support.set_up_organisation(env, work))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
        out = work / "measurer.out"
        child = support.spawn([sys.executable, "-m", "bench.idle_cpu", "--child"], env, out, work)
        try:
            child.wait(timeout=3600)
        finally:
            support.stop_group(child)
        lines = [ln for ln in out.read_text().splitlines() if ln.startswith("{")]
        if child.returncode != 0 or not lines:
            raise RuntimeError(f"the measuring process failed:\n{out.read_text()[-4000:]}")
        return [json.loads(ln) for ln in lines]


def print_report(s: Settings, passes: list[dict[str, Any]]) -> None:
    print(f"idle pass at {s.customers:,} customers ({s.database}); CPU of the xerosync process")
    print(
        f"  {'pass':<26}{'outcome':>9}{'CPU ms':>10}{'wall ms':>10}{'SQL':>7}"
        f"{'Redis':>7}{'Xero':>6}{'read':>8}{'pushed':>8}"
    )
    for p in passes:
        print(
            f"  {p['pass']:<26}{p['outcome']:>9}{p['cpu_ms']:>10.1f}{p['wall_ms']:>10.1f}"
            f"{p['statements']:>7}{p['redis']:>7}{p['xero_calls']:>6}{p['read']:>8}"
            f"{p['pushed']:>8}"
        )
    first = passes[0]
    if first["read"]:
        print(f"  first pass: {first['cpu_ms'] / first['read'] * 1000:.0f} ms CPU per 1,000 read")
    idle = [p["cpu_ms"] for p in passes if p["pass"].startswith("idle ")]
    if idle:
        median = sorted(idle)[len(idle) // 2]
        print(
            f"  idle pass: median {median:.1f} ms CPU (target < 50 ms): "
            f"{support.verdict(median < 50)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=Settings.customers)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--idle", type=int, default=Settings.idle)
    parser.add_argument("--touch", type=int, default=Settings.touch)
    parser.add_argument("--redis-db", type=int, default=Settings.redis_db)
    args = parser.parse_args()
    if args.child:
        _child()
        return
    support.exit_cleanly_on_sigterm()
    s = Settings(
        customers=args.customers,
        database=args.database,
        idle=args.idle,
        touch=args.touch,
        redis_db=args.redis_db,
    )
    print_report(s, run(s))


if __name__ == "__main__":
    main()
