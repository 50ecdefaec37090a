"""Egress: bytes downloaded per 1,000 records imported and per idle pass, and calls per day
for an idle organisation (issue 13, "The day's budget and egress").

Against the sandbox (a separate process), with xerosync's own routine pass
(`xerosync.sync.jobs.routine_pass_for`) in this process. Bytes are measured on the wire: the
spend ledger (`xerosync.xero.spend`) adds up every response body as urllib3 read it off the
socket (`Exchange.bytes_received`: the compressed size when a body is gzipped; the sandbox
does not compress), per kind: "import" for reads that brought changes, "idle" for reads that
brought nothing.

Two cursors' seconds:
* **shared** — a bulk import in Xero (`POST /_sandbox/.../bulk`): thousands of records share
  the cursor's second;
* **single** — afterwards one contact and one invoice are edited a few seconds later, so the
  cursor's second holds one record each.

For each, an idle pass as xerosync makes it now (the second idle pass after the change: the
first may still read the cursor's second again, until Xero's clock is safely past it), and as
it was before (asking from the cursor's second on every pass: `sync_cursors.checked_at`
cleared before the pass). The sandbox clock is moved on between passes instead of waiting.

Calls per day for an idle organisation are a **simulated day** with the pure planner
(`xerosync.sync.cadence.plan_interval`): beat ticking every 5 minutes, the day's budget as the
budget would report it, for the standard (5,000 a day) and Starter (1,000) tiers, against the
old fixed 5 minutes.

    .venv/bin/python -m bench.egress                     # 5,000 contacts + 2,000 invoices
    .venv/bin/python -m bench.egress --contacts 20000 --invoices 20000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import text

from bench import _support as support

DAY = 86_400.0


@dataclass(frozen=True)
class Settings:
    contacts: int = 5_000
    invoices: int = 2_000
    database: str = "sqlite"
    redis_db: int = support.DEFAULT_REDIS_DB
    base: float = 300.0
    idle_max: float = 1_800.0
    invoice_share: float = 0.2


@dataclass(frozen=True)
class Measured:
    """One pass: its calls (from the sandbox's log) and bytes received by spend kind."""

    outcome: str
    calls: int
    bytes_by_kind: dict[str, int]
    records_read: int

    @property
    def bytes_in(self) -> int:
        return sum(self.bytes_by_kind.values())


def _ledger(client: redis.Redis, connection_id: int) -> dict[str, int]:
    from xerosync.xero.spend import spend_today

    return {kind: s.bytes_in for kind, s in spend_today(client, connection_id).items()}


def _pass(control: Any, client: redis.Redis, connection_id: int) -> Measured:
    from xerosync.sync import jobs

    before = _ledger(client, connection_id)
    control.clear_requests()
    result = jobs.routine_pass_for(connection_id)
    after = _ledger(client, connection_id)
    calls = len(support.api_calls(control.requests()))
    counts = result.detail.get("counts", {})
    read = sum(
        counts.get(name, {}).get("read", 0)
        for name in ("contacts", "items", "invoices", "credit_notes")
    )
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
    return Measured(result.status, calls, delta, read)


def _forget_checks(database_url: str, connection_id: int) -> None:
    """Make the next pass ask from the cursor's second, as every pass did before."""
    from xerosync.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE sync_cursors SET checked_at = NULL WHERE connection_id = :c"),
                {"c": connection_id},
            )
    finally:
        engine.dispose()


def _settle(control: Any) -> None:
    """Move Xero's clock past the margin after which a second counts as safely past."""
    from xerosync.sync.pull import SECOND_SETTLES_AFTER

    control.advance_clock(SECOND_SETTLES_AFTER.total_seconds() + 2)


def _idle_passes(
    control: Any, client: redis.Redis, connection_id: int, database_url: str
) -> tuple[Measured, Measured, Measured]:
    """The first idle pass after a change, the second (steady state) and one as before."""
    _settle(control)
    first = _pass(control, client, connection_id)
    steady = _pass(control, client, connection_id)
    _forget_checks(database_url, connection_id)
    old = _pass(control, client, connection_id)
    return first, steady, old


def measure(s: Settings) -> None:
    with (
        support.workdir("bench-egress-") as work,
        support.sandbox_process(work) as sandbox,
        support.database(s.database, work) as database_url,
        support.redis_database(s.redis_db) as redis_url,
    ):
        control = sandbox.control
        control.reset("demo")
        control.config(minute_limit=10_000, day_limit=1_000_000)
        env = support.xerosync_environment(
            database_url=database_url,
            redis_url=redis_url,
            sandbox_url=sandbox.url,
            XERO_MINUTE_LIMIT=10_000,
            XERO_DAY_LIMIT=1_000_000,
        )
        connection_id = support.set_up_organisation(env, work)
        client = redis.Redis.from_url(redis_url)
        with support.environment(env):
            from xerosync.sync import outbox

            outbox.install()
            _pass(control, client, connection_id)  # the Demo Company first
            control.bulk(Contacts=s.contacts, Invoices=s.invoices)
            started = time.perf_counter()
            imported = _pass(control, client, connection_id)
            wall = time.perf_counter() - started
            shared = _idle_passes(control, client, connection_id, database_url)

            control.advance_clock(3)
            contact = next(c for c in control.records("Contacts") if c["Name"] == "Boom FM")
            control.edit("Contacts", contact["ContactID"], {"EmailAddress": "egress@boom.example"})
            invoice = next(
                i for i in control.records("Invoices")
                if i["Type"] == "ACCREC" and i["Status"] == "DRAFT"
            )  # fmt: skip
            control.edit("Invoices", invoice["InvoiceID"], {"Reference": "egress bench"})
            edited = _pass(control, client, connection_id)
            single = _idle_passes(control, client, connection_id, database_url)
            refused = support.served_429s(control.requests())
        client.close()

    per_1000 = imported.bytes_in / (imported.records_read / 1000) if imported.records_read else 0
    print(
        f"  first import of the bulk: {imported.records_read:,} records read in "
        f"{imported.calls} calls, {wall:.1f}s, {imported.bytes_in / 1e6:.2f} MB on the wire = "
        f"{per_1000 / 1e3:.0f} KB per 1,000 records imported ({imported.outcome})"
    )
    idle_day = simulate_day(s, 4_000, adaptive=True)
    for name, (first, steady, old), note in (
        ("shared", shared, f"{shared[2].records_read:,} records share the cursors' seconds"),
        ("single", single, f"one record each; the change pass: {edited.bytes_in:,} bytes"),
    ):
        print(f"  cursor's second {name} ({note}):")
        print(
            f"      idle pass as before (asks from the cursor's second): {old.calls} calls, "
            f"{old.bytes_in:,} bytes, {old.records_read:,} records read again"
        )
        print(
            f"      first idle pass after the change: {first.calls} calls, "
            f"{first.bytes_in:,} bytes ({first.records_read:,} records read again)"
        )
        small = steady.bytes_in < 10_000
        print(
            f"      idle pass now (second after the change): {steady.calls} calls, "
            f"{steady.bytes_in:,} bytes, {steady.records_read} records (target: a few KB) "
            f"-> {support.verdict(small)}"
        )
        per_day_old = old.bytes_in * DAY / s.base
        print(
            f"      an idle day: before {per_day_old / 1e6:,.1f} MB ({DAY / s.base:.0f} passes "
            f"of the fixed {s.base / 60:.0f} minutes); now "
            f"{steady.bytes_in * idle_day.passes / 1e6:.2f} MB ({idle_day.passes} passes of "
            f"the new cadence)"
        )
    print(f"  429s served by the sandbox: {refused} (target: 0) -> {support.verdict(refused == 0)}")


@dataclass(frozen=True)
class DaySimulation:
    calls: int
    passes: int
    ran_out_after: float | None
    """Seconds into the day when routine work had no call left for a pass (None: never)."""


def simulate_day(s: Settings, routine_left: int, *, adaptive: bool) -> DaySimulation:
    """An idle organisation's day: beat ticks every `base` seconds; the pass is due at the
    first tick at or after its plan; a pass is 4 calls; the budget's read-out is what routine
    work has left and the seconds to the reset (the day began with the first pass)."""
    from xerosync.sync import cadence

    @dataclass(frozen=True)
    class Day:
        routine_left: int
        resets_in: float | None

    now, calls, passes, idle = 0.0, 0, 0, 0
    while now < DAY:
        if routine_left - calls < cadence.IDLE_PASS_CALLS:
            return DaySimulation(calls, passes, now)
        calls += cadence.IDLE_PASS_CALLS
        passes += 1
        if adaptive:
            day = Day(routine_left - calls, DAY - now)
            interval = cadence.plan_interval(idle, s.base, s.idle_max, day)
            idle += 1
        else:
            interval = s.base
        now += max(1, -(-interval // s.base)) * s.base
    return DaySimulation(calls, passes, None)


def print_days(s: Settings) -> None:
    print(
        f"  calls per day for an idle organisation (a SIMULATED day with the pure planner, "
        f"beat every {s.base:g}s, idle bound {s.idle_max:g}s, invoice reserve "
        f"{s.invoice_share:.0%}):"
    )
    for tier, limit in (("standard", 5_000), ("Starter", 1_000)):
        reserve = max(1, round(limit * s.invoice_share))
        routine_left = limit - reserve
        old = simulate_day(s, routine_left, adaptive=False)
        new = simulate_day(s, routine_left, adaptive=True)
        wanted = int(DAY // s.base) * 4
        if old.ran_out_after is None:
            before = f"{old.calls:,} calls ({old.calls / limit:.0%} of the day)"
        else:
            before = (
                f"needs {wanted:,}, runs out after {old.ran_out_after / 3600:.1f} h "
                f"({old.calls:,} calls: routine work's whole day)"
            )
        ok = new.ran_out_after is None and new.calls <= routine_left
        print(
            f"      {tier} ({limit:,}/day, {routine_left:,} for routine work): fixed 5 min "
            f"{before}; new cadence {new.calls:,} calls in {new.passes} passes "
            f"({new.calls / limit:.1%} of the day), invoice reserve of {reserve} untouched "
            f"-> {support.verdict(ok)}"
        )
    near_end = simulate_day(s, 60, adaptive=True)
    print(
        f"      a Starter organisation with 60 routine calls left at the start of its day: "
        f"{near_end.calls} calls in {near_end.passes} passes, "
        f"{'never runs out' if near_end.ran_out_after is None else 'RUNS OUT'} -> "
        f"{support.verdict(near_end.ran_out_after is None)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=Settings.contacts)
    parser.add_argument("--invoices", type=int, default=Settings.invoices)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-db", type=int, default=support.DEFAULT_REDIS_DB)
    args = parser.parse_args()
    support.exit_cleanly_on_sigterm()
    s = Settings(
        contacts=args.contacts,
        invoices=args.invoices,
        database=args.database,
        redis_db=args.redis_db,
    )
    print("xerosync egress bench (issue 13: bytes per record and per idle pass, calls per day)")
    print(
        f"  settings: {s.contacts:,} contacts + {s.invoices:,} invoices bulk-created in the "
        f"sandbox; database {s.database}; Redis DB {s.redis_db}; limits raised (one pass); "
        f"bytes = response bodies on the wire (spend ledger), by kind",
        flush=True,
    )
    measure(s)
    print_days(s)


if __name__ == "__main__":
    main()
