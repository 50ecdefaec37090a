"""Operating commands: `errors`, `retry`, `sync`, `template` (`status` has its own module).

They read the database and Redis directly (no Xero call) except `sync`, which runs a pass
in the foreground, and `template`, which looks the contact up in Xero.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from xerosync.cli import CommandError
from xerosync.cli.progress import pass_progress
from xerosync.connections import OrganisationError, find_connection
from xerosync.db import get_engine, session_scope
from xerosync.models import LinkKind, LinkStatus, XeroLink
from xerosync.settings import get_settings
from xerosync.status import merges, record_errors, set_aside_records, vanished_links
from xerosync.sync import jobs
from xerosync.sync.context import OrgContext, open_context, redis_client
from xerosync.xero.errors import XeroError

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
KINDS = [kind.value for kind in LinkKind]


def register(subparsers: Any) -> None:
    errors = subparsers.add_parser("errors", help="records Xero rejected, and why")
    errors.add_argument("--kind", choices=KINDS)
    errors.add_argument("--json", action="store_true")
    errors.set_defaults(handler=_errors)

    retry = subparsers.add_parser("retry", help="queue rejected records again")
    retry.add_argument("kind", nargs="?", choices=KINDS)
    retry.add_argument("id", nargs="?", type=int, help="the CRM record's id")
    retry.add_argument("--all", action="store_true", help="every record in error")
    retry.set_defaults(handler=_retry)

    sync = subparsers.add_parser("sync", help="run a routine pass now, in the foreground")
    sync.add_argument("--full", action="store_true", help="import everything, not just changes")
    sync.add_argument("--org", help="tenant id or name (default: every organisation)")
    sync.set_defaults(handler=_sync)

    template = subparsers.add_parser(
        "template", help="nominate the contact whose defaults new contacts inherit"
    )
    template.add_argument("contact", help="the template contact's name or ContactID")
    template.add_argument("--org", help="tenant id or name")
    template.set_defaults(handler=_template)


def _compact(counts: dict[str, Any]) -> str:
    parts = []
    for key, value in counts.items():
        if isinstance(value, dict):
            inner = _compact(value)
            if inner:
                parts.append(f"{key}({inner})")
        elif value:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def _errors(args: argparse.Namespace) -> int:
    with session_scope(get_engine()) as session:
        found = record_errors(session, args.kind)
        aside = set_aside_records(session) if not args.kind else []
        merged = merges(session) if args.kind in (None, LinkKind.CONTACT.value) else []
        relinked = [v for v in vanished_links(session) if args.kind in (None, v.kind)]
    if args.json:
        print(
            json.dumps(
                {
                    "records": [e.__dict__ for e in found],
                    "set_aside": [a.__dict__ for a in aside],
                    "merges": [m.__dict__ for m in merged],
                    "vanished": [v.__dict__ for v in relinked],
                },
                indent=2,
            )
        )
        return 0
    console = Console(width=160)
    if not found:
        console.print("no record is in error")
    else:
        table = Table("kind", "id", "record", "organisation", "state", "field", "Xero says",
                      "tries")  # fmt: skip
        for e in found:
            table.add_row(e.kind, str(e.local_id), e.label, e.organisation, e.state,
                          e.field or "-", e.message, str(e.attempts))  # fmt: skip
        console.print(table)
    if aside:
        table = Table("Xero record", "id", "organisation", "field", "why it was set aside",
                      "times read", title="Set aside by the import")  # fmt: skip
        for a in aside:
            table.add_row(a.resource, a.xero_id, a.organisation, a.field or "-", a.message,
                          str(a.times))  # fmt: skip
        console.print(table)
    if merged:
        table = Table("customer", "merged contact", "survivor", "survivor's customer",
                      "organisation", title="Contacts merged in Xero")  # fmt: skip
        for m in merged:
            other = f"#{m.survivor_customer_id}" if m.survivor_customer_id else "(the same)"
            table.add_row(f"#{m.customer_id}", m.merged_contact_id, m.survivor_contact_id,
                          other, m.organisation)  # fmt: skip
        console.print(table)
    if relinked:
        table = Table("kind", "id", "gone from Xero", "relinked to", "matched by",
                      "organisation", title="Links whose Xero record was gone")  # fmt: skip
        for v in relinked:
            table.add_row(v.kind, f"#{v.local_id}", v.vanished_xero_id, v.relinked_xero_id or "-",
                          v.matched_by, v.organisation)  # fmt: skip
        console.print(table)
    return 0


def _retry(args: argparse.Namespace) -> int:
    if args.all == (args.id is not None):
        raise CommandError("name one record (KIND ID) or use --all")
    if args.id is not None and args.kind is None:
        raise CommandError("say which kind of record: contact, item or invoice")
    from xerosync import tasks  # Celery only where a command enqueues

    senders = {
        LinkKind.CONTACT.value: tasks.push_contact,
        LinkKind.ITEM.value: tasks.push_item,
        LinkKind.INVOICE.value: tasks.create_invoice_for_order,
    }
    with session_scope(get_engine()) as session:
        query = select(XeroLink).where(XeroLink.status == LinkStatus.ERROR.value)
        if args.kind:
            query = query.where(XeroLink.kind == args.kind)
        if args.id is not None:
            query = query.where(XeroLink.local_id == args.id)
        links = list(session.scalars(query))
        if not links:
            raise CommandError("no record in error matches")
        for link in links:
            link.status = LinkStatus.PENDING.value
            link.attempts = 0
        queued = [(link.kind, link.local_id) for link in links]
    for kind, local_id in queued:
        senders[kind].delay(local_id)
        print(f"queued {kind} #{local_id}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    # A pass needs Redis (budget, leases): say so in one line before starting, rather than
    # have every organisation's pass end "interrupted".
    redis_client(get_settings().REDIS_URL).ping()
    engine = get_engine()
    with session_scope(engine) as session:
        if args.org:
            try:
                ids = [find_connection(session, args.org).id]
            except OrganisationError as exc:
                raise CommandError(str(exc)) from None
        else:
            ids = jobs.active_connections(engine)
    if not ids:
        raise CommandError("no organisation is connected: run `xerosync connect`")
    console = Console()
    worst = 0
    for connection_id in ids:
        result = _pass_with_progress(console, connection_id, args.full)
        console.print(f"pass {result.status}" + (f": {result.error}" if result.error else ""))
        for stream, counts in (result.detail.get("counts") or {}).items():
            console.print(f"  {stream}: {_compact(counts) or 'nothing to do'}")
        if result.status not in ("ok", "skipped"):
            worst = 1
    return worst


def _pass_with_progress(console: Console, connection_id: int, full: bool) -> jobs.JobResult:
    """One pass, drawing each stream's progress as its pages arrive (see cli.progress)."""
    with pass_progress(console) as on_page:
        return jobs.routine_pass_for(connection_id, full=full, on_page=on_page)


def _template(args: argparse.Namespace) -> int:
    settings = get_settings()
    engine = get_engine()
    with session_scope(engine) as session:
        try:
            connection = find_connection(session, args.org)
            ctx = open_context(session, connection, settings, engine)
            contact = _find_contact(ctx, args.contact)
        except (OrganisationError, XeroError) as exc:
            raise CommandError(str(exc)) from None
        connection.template_contact_id = str(contact["ContactID"])
        print(
            f"{connection.tenant_name}: new contacts inherit the defaults of "
            f"{contact.get('Name')} ({contact['ContactID']})"
        )
    return 0


def _find_contact(ctx: OrgContext, ref: str) -> dict[str, Any]:
    if GUID.match(ref):
        return ctx.client.get("Contacts", ref)
    # Xero's `where` cannot hold a quote (no escape; a backslash is a plain character there):
    # such a name is found with `searchTerm` and matched exactly here.
    if '"' in ref or "\\" in ref:
        rows = ctx.client.rows("Contacts", params={"searchTerm": ref})
    else:
        rows = ctx.client.rows("Contacts", where=f'Name=="{ref}"')
    found = [c for c in rows if c.get("Name") == ref]
    if len(found) != 1:
        raise CommandError(
            f"{len(found)} contacts are named {ref!r} in {ctx.connection.tenant_name}"
        )
    return found[0]
