"""Xero calls per record on the push side of the routine pass (issues 5 and 8).

Three measurements, each a routine pass (`xerosync.sync.jobs.routine_pass_for`, the unit of
work the Celery task runs) against the sandbox, counted from the sandbox's request log:

1. **200 new customers** saved in the CRM after the first pass imported Xero's contacts (a
   share of them already exist in Xero under the same email and must be linked, not
   duplicated): the whole pass, reads included. Target: at most 11 calls (10, plus the one read of
   what Xero gained since the last import, before creating contacts).
2. **Bulk push**: 2,000 new customers and 500 new products in one pass. Target: one write per
   50 records.
3. The pass after the bulk push (not a target: it reads back what the push wrote, which Xero
   reports as changed since the cursor), then
4. **Nothing changed**: the pass after that. Target: one read per stream (4) and no write.

    .venv/bin/python -m bench.push_calls
    .venv/bin/python -m bench.push_calls --new 200 --matching 20 --bulk-customers 2000

The sandbox runs as a separate process; the database is a SQLite file (or `--database
postgres`: a PostgreSQL database created on 127.0.0.1:5432 and dropped afterwards); Redis is
DB 7 (BENCH_REDIS_DB), flushed before and after. The limits are raised (sandbox and xerosync
alike) so a pass is never cut short by the minute budget: this bench counts calls, and
invoice_latency.py measures behaviour under Xero's real limits.

Each call takes `--latency-ms` (default 200) in the sandbox, as calls to Xero take time. With
none, the bulk push (3 batches of 50 in flight) lands well over 1,000 contacts within one
second, and because `If-Modified-Since` is to the second, every later pass reads that
second's records again: a second page of contacts on a pass with nothing changed. Xero's own
latency rules that out for xerosync's pushes.
"""

from __future__ import annotations

import argparse
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench import _support as support


@dataclass(frozen=True)
class Settings:
    new_customers: int = 200
    matching: int = 20
    bulk_customers: int = 2000
    bulk_products: int = 500
    database: str = "sqlite"
    redis_db: int = support.DEFAULT_REDIS_DB
    minute_limit: int = 10_000
    day_limit: int = 100_000
    latency_ms: int = 200


@dataclass
class Step:
    name: str
    records: int
    outcome: str
    calls: Counter[tuple[str, str]]
    push: dict[str, Any] = field(default_factory=dict)
    served_429s: int = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(n for (method, _), n in self.calls.items() if method in ("PUT", "POST"))

    @property
    def reads(self) -> int:
        return sum(n for (method, _), n in self.calls.items() if method == "GET")


@dataclass
class Report:
    settings: Settings
    steps: list[Step]
    sandbox_contacts_before: int
    sandbox_contacts_after: int


def _pass(control: Any, connection_id: int, name: str, records: int) -> Step:
    from xerosync.sync import jobs

    control.clear_requests()
    result = jobs.routine_pass_for(connection_id)
    if result.status != "ok":
        raise RuntimeError(f"{name}: the pass ended {result.status}: {result.error}")
    counts = result.detail.get("counts", {})
    log = control.requests()
    table = support.call_table(log)
    return Step(
        name, records, result.status, table, counts.get("push", {}), support.served_429s(log)
    )


def _add_customers(session: Session, connection_id: int, rows: list[dict[str, Any]]) -> None:
    from xerosync.models import Customer

    session.add_all(Customer(connection_id=connection_id, **row) for row in rows)
    session.commit()


def run(settings: Settings | None = None) -> Report:
    s = settings or Settings()
    with (
        support.workdir("bench-push-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(
            minute_limit=s.minute_limit, day_limit=s.day_limit, latency_ms=s.latency_ms
        )
        # Contacts already in Xero that some of the new CRM customers are (same email).
        if s.matching:
            control.bulk(Contacts=s.matching)
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=s.minute_limit,
            XERO_DAY_LIMIT=s.day_limit,
        )
        connection_id = support.set_up_organisation(env, work)
        return _measure(s, env, control, connection_id, work)


def _measure(
    s: Settings, env: dict[str, str], control: Any, connection_id: int, work: Path
) -> Report:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(work)
    from xerosync.db import get_engine
    from xerosync.settings import get_settings
    from xerosync.sync import outbox

    get_settings.cache_clear()
    outbox.install()
    try:
        steps = []
        _pass(control, connection_id, "first pass (import)", 0)
        before = len(control.records("Contacts"))
        bulk = [
            c for c in control.records("Contacts") if c.get("ContactNumber", "").startswith("BULK-")
        ]
        with Session(get_engine()) as session:
            rows: list[dict[str, Any]] = []
            for number in range(s.new_customers):
                if number < min(s.matching, len(bulk)):
                    # The CRM enters a customer Xero already holds, under its own spelling.
                    rows.append(
                        {
                            "name": f"{bulk[number]['Name']} Pty",
                            "email": bulk[number]["EmailAddress"],
                        }
                    )
                else:
                    rows.append(
                        {"name": f"New Customer {number:05d}", "email": f"new{number}@crm.example"}
                    )
            _add_customers(session, connection_id, rows)
        steps.append(
            _pass(control, connection_id, f"{s.new_customers} new customers", s.new_customers)
        )

        from xerosync.models import Product

        with Session(get_engine()) as session:
            _add_customers(
                session,
                connection_id,
                [
                    {
                        "name": f"Bulk CRM Customer {n:06d}",
                        "email": f"bulk{n}@crm.example",
                        "default_currency": "AUD",
                    }
                    for n in range(s.bulk_customers)
                ],
            )
            session.add_all(
                Product(
                    connection_id=connection_id,
                    code=f"CRM-{n:05d}",
                    name=f"CRM product {n}",
                    description=f"CRM product {n}",
                    sales_unit_price=Decimal(10 + n % 50),
                    sales_account_code="200",
                    sales_tax_type="OUTPUT",
                )
                for n in range(s.bulk_products)
            )
            session.commit()
        steps.append(
            _pass(
                control,
                connection_id,
                f"bulk: {s.bulk_customers} customers + {s.bulk_products} products",
                s.bulk_customers + s.bulk_products,
            )
        )
        steps.append(_pass(control, connection_id, "next pass (reads back the bulk push)", 0))
        steps.append(_pass(control, connection_id, "nothing changed", 0))
        after = len(control.records("Contacts"))
        return Report(s, steps, before, after)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def print_report(report: Report) -> None:
    s = report.settings
    first, bulk, echo, idle = report.steps
    print("xerosync push-calls bench (issues 5, 8: calls per record)")
    print(
        f"  settings: {s.new_customers} new customers ({s.matching} already in Xero by email); "
        f"bulk {s.bulk_customers} customers + {s.bulk_products} products; database "
        f"{s.database}; Redis DB {s.redis_db}; limits raised to minute={s.minute_limit} "
        f"day={s.day_limit} (sandbox and xerosync) so no pass is cut short; sandbox latency "
        f"{s.latency_ms} ms a call"
    )
    ok = first.total <= 11
    print(f"  1. {first.name}: {first.total} calls  (target: at most 11) -> {support.verdict(ok)}")
    print(f"       calls: {support.format_calls(first.calls)}")
    print(f"       push: {first.push.get('contacts')}")
    duplicates = report.sandbox_contacts_after - report.sandbox_contacts_before
    created = (first.push.get("contacts") or {}).get("created", 0) + (
        bulk.push.get("contacts") or {}
    ).get("created", 0)
    print(
        f"       Xero contacts added over both pushes: {duplicates} for {created} created "
        f"(the {s.matching} matching customers were linked, not duplicated: "
        f"{support.verdict(duplicates == s.new_customers - s.matching + s.bulk_customers)})"
    )
    per_50 = bulk.writes / (bulk.records / 50) if bulk.records else 0.0
    ideal = math.ceil(s.bulk_customers / 50) + math.ceil(s.bulk_products / 50)
    print(
        f"  2. {bulk.name}: {bulk.writes} writes for {bulk.records} records = "
        f"{per_50:.2f} writes per 50 records  (target: 1; minimum possible {ideal} writes) -> "
        f"{support.verdict(bulk.writes <= ideal)}"
    )
    print(f"       calls: {support.format_calls(bulk.calls)}")
    print(f"       push: {bulk.push}")
    print(
        f"  3. {echo.name}: {echo.reads} reads, {echo.writes} writes (not a target: Xero hands "
        f"back the {s.bulk_customers} contacts the push wrote, as changed since the cursor)"
    )
    print(f"       calls: {support.format_calls(echo.calls)}")
    one_each = idle.reads == 4 and all(n == 1 for (m, _), n in idle.calls.items() if m == "GET")
    ok = one_each and idle.writes == 0
    print(
        f"  4. {idle.name}: {idle.reads} reads, {idle.writes} writes "
        f"(target: one read per stream = 4, no write) -> {support.verdict(ok)}"
    )
    print(f"       calls: {support.format_calls(idle.calls)}")
    refused = sum(step.served_429s for step in report.steps)
    print(
        f"  429s served by the sandbox over the four passes: {refused} (target: 0) -> "
        f"{support.verdict(refused == 0)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new", type=int, default=200, help="new customers (target 1)")
    parser.add_argument("--matching", type=int, default=20, help="of which already in Xero")
    parser.add_argument("--bulk-customers", type=int, default=2000)
    parser.add_argument("--bulk-products", type=int, default=500)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    parser.add_argument("--latency-ms", type=int, default=Settings.latency_ms)
    args = parser.parse_args()
    settings = Settings(
        new_customers=args.new,
        matching=args.matching,
        bulk_customers=args.bulk_customers,
        bulk_products=args.bulk_products,
        database=args.database,
        redis_db=args.redis_db,
        latency_ms=args.latency_ms,
    )
    print_report(run(settings))


if __name__ == "__main__":
    main()
