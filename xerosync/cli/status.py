"""`xerosync status [--org ORG] [--json]`: is the service working, and how is each organisation.

The facts come from `xerosync.status` (database and Redis, workers through Celery's inspect,
beat through its heartbeat); no call to Xero. Text says times in words ("3 min ago"); JSON
keeps the same facts with ISO times and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from xerosync.cli.words import ago, duration, since, until
from xerosync.db import get_engine, session_scope
from xerosync.settings import get_settings
from xerosync.status import INSPECT_TIMEOUT, status_report
from xerosync.sync.context import redis_client


def register(subparsers: Any) -> None:
    status: argparse.ArgumentParser = subparsers.add_parser(
        "status", help="is the service working, and each organisation's sync health"
    )
    status.add_argument("--org", help="tenant id or name (default: every organisation)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--wait",
        type=float,
        default=INSPECT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for workers to answer (default {INSPECT_TIMEOUT:g})",
    )
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    client = redis_client(settings.REDIS_URL)
    client.ping()  # an unreachable Redis fails here, in one line, before anything is read
    with session_scope(get_engine()) as session:
        report = status_report(session, settings, client, org=args.org, inspect_timeout=args.wait)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        render(report, Console(highlight=False, soft_wrap=True))
    unreadable = [o for o in report["organisations"] if o.get("token_error")]
    for org in unreadable:
        print(f"xerosync status: {org['name']}: {org['token_error']}", file=sys.stderr)
    return 1 if unreadable else 0


def render(report: dict[str, Any], console: Console) -> None:
    """The report as an operator reads it."""
    now = datetime.fromisoformat(report["generated_at"])
    for line in service_lines(report["service"], now):
        console.print(line)
    if not report["organisations"]:
        console.print("no organisation is connected: run `xerosync connect`")
    for org in report["organisations"]:
        for line in organisation_lines(org, now):
            console.print(line)


def service_lines(service: dict[str, Any], now: datetime) -> list[str]:
    workers = service["workers"]
    lines = ["[bold]service[/bold]", f"  workers ({escape(workers['how'])}):"]
    for name, queue in workers["queues"].items():
        found = queue["workers"]
        waiting = f"{queue['waiting']:,} task(s) waiting"
        if found:
            names = ", ".join(found)
            lines.append(
                f"    {name}: {len(found)} worker{'s' if len(found) != 1 else ''} ({names}), "
                f"answered just now; {waiting}"
            )
        else:
            lines.append(f"    {name}: [red]no worker consuming it[/red]; {waiting}")
    lines.append("  " + beat_line(service["beat"], now))
    return lines


def beat_line(beat: dict[str, Any], now: datetime) -> str:
    """Says e.g. "beat: last tick 12 s ago, next routine pass in 4 min", or "not running"."""
    if beat["last_tick_at"] is None:
        return "beat: [red]not running[/red] (no tick recorded)"
    age = duration(beat["age_seconds"])
    if not beat["running"]:
        return f"beat: [red]not running[/red] (no tick for {age})"
    text = f"beat: last tick {ago(beat['age_seconds'])} ({beat['hostname']}, pid {beat['pid']})"
    if beat["next_pass_at"]:
        text += f", next routine pass {until(datetime.fromisoformat(beat['next_pass_at']), now)}"
    return text


def organisation_lines(org: dict[str, Any], now: datetime) -> list[str]:
    auth = "[red]needs re-authorisation[/red]" if org["needs_reauthorisation"] else org["status"]
    lines = [f"[bold]{escape(org['name'])}[/bold] ({org['tenant_id']}): {auth}"]
    if org.get("status_reason") and org["needs_reauthorisation"]:
        lines.append(f"  why: {escape(org['status_reason'])}")
    if org.get("token_error"):
        lines.append(f"  [red]tokens: {escape(org['token_error'])}[/red]")
    if org["scopes"]:
        lines.append(f"  scopes: {' '.join(org['scopes'])}")
    if org["scope_warning"]:
        lines.append(f"  [yellow]{escape(org['scope_warning'])}[/yellow]")
    lines.append("  last pass: " + escape(last_pass_words(org["last_pass"], now)))
    lines.append("  next pass: " + next_pass_words(org["next_pass"], now))
    for kind, counts in org["records"].items():
        lines.append(
            f"  {kind}: {counts['pending']:,} pending, {counts['deferred']:,} deferred, "
            f"{counts['error']:,} in error"
        )
    if org["set_aside"]:
        lines.append(
            f"  [yellow]{org['set_aside']} record(s) from Xero set aside by the import[/yellow]"
            " (`xerosync errors` says which and why)"
        )
    if org["merges"]:
        lines.append(f"  {org['merges']} contact merge(s) in Xero followed")
    if org.get("vanished_links"):
        lines.append(
            f"  [yellow]{org['vanished_links']} link(s) pointed at Xero records that no longer "
            "exist: relinked instead of duplicated[/yellow] (`xerosync errors` lists them)"
        )
    lines.append("  " + webhook_words(org.get("webhooks") or {}, now))
    lines.append("  " + budget_words(org["budget"]))
    lines.append("  " + spend_words(org["spend_today"]))
    return lines


def webhook_words(hooks: dict[str, Any], now: datetime) -> str:
    """Says e.g. "webhooks: last event 2 min ago, stored 1.4 s after it happened in Xero"."""
    receiver = "receiver running" if hooks.get("receiver_running") else "receiver not running"
    if not hooks.get("last_event_at"):
        return f"webhooks: no event received yet ({receiver})"
    age = ago(since(hooks["last_event_at"], now))
    return (
        f"webhooks: last event {age}, stored {hooks['lag_seconds']:.1f} s after it happened "
        f"in Xero ({receiver})"
    )


def last_pass_words(run: dict[str, Any] | None, now: datetime) -> str:
    """Says e.g. "finished 3 min ago in 4.2 s: ok, 12 contacts imported"."""
    if run is None:
        return "never"
    if run["finished_at"] is None:
        return f"running for {duration(run['running_for_seconds'] or 0)}"
    text = (
        f"finished {ago(since(run['finished_at'], now))} in {duration(run['duration_seconds'])}: "
        f"{run['outcome_words']}"
    )
    if run["outcome"] in ("ok", "interrupted", "continued"):
        text += f", {run['summary']}"
    return text


def next_pass_words(plan: dict[str, Any], now: datetime) -> str:
    """Says e.g. "in 4 min (every 10 min, ...)", or why no pass will start."""
    if plan["at"] is None:
        due = "due"
        if plan["due_at"]:
            due += " " + until(datetime.fromisoformat(plan["due_at"]), now)
        return f"{due}, [red]but beat is not running[/red]"
    text = until(datetime.fromisoformat(plan["at"]), now)
    if plan["work_waiting"]:
        text += " (work waits in the outbox)"
    elif plan["interval_seconds"] is not None:
        text += f" (every {duration(plan['interval_seconds'])}"
        if plan["idle_passes"]:
            text += f", backed off after {plan['idle_passes']} idle pass(es)"
        text += ")"
    return text


def budget_words(budget: dict[str, Any]) -> str:
    """This minute's and today's calls left, and today's split between routine and invoices."""
    day = budget["day"]
    resets = (
        f"resets in {duration(float(day['resets_in']))}"
        if day["resets_in"] is not None
        else "reset time unknown until Xero says"
    )
    text = (
        f"budget left: {budget['minute_left']:,} calls this minute, {budget['day_left']:,} "
        f"today (of {day['limit']:,}, {day['used']:,} used: {day['routine_left']:,} left for "
        f"routine work, {day['invoice_left']:,} for invoices; {resets})"
    )
    if budget["closed_for_seconds"]:
        text += f"; [red]closed for {duration(budget['closed_for_seconds'])}[/red] (Xero said 429)"
    return text


def spend_words(spend: dict[str, Any]) -> str:
    """Says e.g. "spent today: import 4 calls (23.0 kB in, 0 B out); 0 for idle, other"."""
    used = {kind: s for kind, s in spend.items() if s["calls"]}
    if not used:
        return "spent today: no call to Xero"
    parts = [
        f"{kind} {s['calls']:,} call{'s' if s['calls'] != 1 else ''} "
        f"({_bytes(s['bytes_in'])} in, {_bytes(s['bytes_out'])} out)"
        for kind, s in used.items()
    ]
    idle = [kind for kind in spend if kind not in used]
    return "spent today: " + ", ".join(parts) + (f"; 0 for {', '.join(idle)}" if idle else "")


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
