"""`xerosync connect`, `xerosync connections`, `xerosync disconnect`: organisations.

`connect` runs Xero's authorization-code flow: it prints (and, if it can, opens) the authorize
URL, receives the redirect on the local port of XERO_REDIRECT_URI, exchanges the code, lists
the organisations the grant reaches and stores the chosen ones with their tokens. Against the
sandbox, which approves at once, it follows the authorize URL itself, so no browser is needed.
`--client-credentials` connects a Xero custom connection instead.
"""

from __future__ import annotations

import argparse
import http.server
import queue
import sys
import threading
import webbrowser
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from sqlalchemy import func, select

from xerosync.cli import CommandError
from xerosync.connections import (
    OrganisationError,
    find_connection,
    token_cipher,
    unseal,
    upsert_connection,
)
from xerosync.db import get_engine, session_scope
from xerosync.models import Connection, ConnectionStatus, Customer, Order, Product
from xerosync.settings import Settings, get_settings
from xerosync.xero import scopes
from xerosync.xero.auth import Connection as XeroConnection
from xerosync.xero.auth import IdentityClient, TokenSet
from xerosync.xero.errors import AuthenticationError, XeroError
from xerosync.xero.factory import identity_client

CALLBACK_TIMEOUT_SECONDS = 300


def register(subparsers: Any) -> None:
    connect: argparse.ArgumentParser = subparsers.add_parser(
        "connect", help="connect a Xero organisation (OAuth2)"
    )
    connect.add_argument(
        "--client-credentials",
        action="store_true",
        help="connect a Xero custom connection (client id and secret only)",
    )
    connect.add_argument("--tenant", help="tenant id or name to store when several are offered")
    connect.add_argument("--all", action="store_true", help="store every organisation offered")
    connect.add_argument(
        "--no-browser", action="store_true", help="print the authorize URL without opening it"
    )
    connect.set_defaults(handler=_connect)

    subparsers.add_parser("connections", help="list connected organisations").set_defaults(
        handler=_list
    )

    disconnect: argparse.ArgumentParser = subparsers.add_parser(
        "disconnect", help="disconnect an organisation"
    )
    disconnect.add_argument("tenant", help="tenant id or name (see `xerosync connections`)")
    disconnect.set_defaults(handler=_disconnect)


def _connect(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        cipher = token_cipher(settings)
        identity = identity_client(settings)
        if args.client_credentials:
            tokens = _client_credentials(identity, settings)
        else:
            tokens = _authorization_code_flow(identity, settings, no_browser=args.no_browser)
        offered = identity.connections(tokens.access_token)
    except (XeroError, OrganisationError) as exc:
        raise CommandError(str(exc)) from None
    held = scopes.grant_warning(tokens)
    chosen = _choose(offered, args.tenant, store_all=args.all)
    reconnected: list[tuple[int, str]] = []
    new: list[tuple[int, str]] = []
    with session_scope(get_engine()) as session:
        for org in chosen:
            before = session.scalars(
                select(Connection.status).where(Connection.tenant_id == org.tenant_id)
            ).first()
            row = upsert_connection(
                session,
                tenant_id=org.tenant_id,
                tenant_name=org.tenant_name or org.tenant_id,
                tenant_type=org.tenant_type,
                tokens=tokens,
                cipher=cipher,
            )
            state = "encrypted" if row.token_encrypted else "unencrypted (sandbox only)"
            print(f"connected {row.tenant_name} ({row.tenant_id}); tokens stored {state}")
            if held:
                print(f"warning: {row.tenant_name} {held}", file=sys.stderr)
            if before is None:
                new.append((row.id, row.tenant_name))
            elif before != ConnectionStatus.ACTIVE.value:
                reconnected.append((row.id, row.tenant_name))
    for connection_id, name in reconnected:
        _resume(connection_id, name)
    for connection_id, name in new:
        _first_pass(connection_id, name)
    return 0


def _first_pass(connection_id: int, name: str) -> None:
    """A new organisation's first import starts now, not at beat's next tick."""
    from xerosync import tasks  # Celery only where it is needed
    from xerosync.publish import BROKER_ERRORS, send_once

    try:
        send_once(tasks.run_pass_for, (connection_id,))
    except BROKER_ERRORS as exc:
        print(
            f"note: could not queue {name}'s first import ({type(exc).__name__}); the next "
            "routine pass runs it",
            file=sys.stderr,
        )
        return
    print(f"first import of {name} queued")


def _resume(connection_id: int, name: str) -> None:
    """What waited on the re-authorisation goes now; if the broker is away, the next routine
    pass takes it up (the records are due in the database either way)."""
    from xerosync import tasks  # Celery only where it is needed

    try:
        tasks.resume_after_reconnect.delay(connection_id)
    except Exception as exc:  # the broker is down: the database still holds the work
        print(
            f"note: could not queue the resumption of {name}'s waiting records "
            f"({type(exc).__name__}); the next routine pass will send them",
            file=sys.stderr,
        )
        return
    print(f"resuming {name}: records that waited for the connection are queued")


def _choose(
    offered: list[XeroConnection], wanted: str | None, *, store_all: bool
) -> list[XeroConnection]:
    orgs = [c for c in offered if c.tenant_type == "ORGANISATION"] or offered
    if not orgs:
        raise CommandError("Xero granted access to no organisation")
    if store_all:
        return orgs
    if wanted:
        matches = [c for c in orgs if wanted in (c.tenant_id, c.tenant_name)]
        if not matches:
            names = ", ".join(f"{c.tenant_name} ({c.tenant_id})" for c in orgs)
            raise CommandError(f"--tenant {wanted!r} is not among the organisations: {names}")
        return matches
    if len(orgs) == 1:
        return orgs
    for number, org in enumerate(orgs, start=1):
        print(f"  {number}. {org.tenant_name} ({org.tenant_id})")
    if not sys.stdin.isatty():
        raise CommandError("several organisations were offered: choose one with --tenant or --all")
    answer = input("organisation number: ").strip()
    if not answer.isdigit() or not 1 <= int(answer) <= len(orgs):
        raise CommandError(f"{answer!r} is not one of the numbers above")
    return [orgs[int(answer) - 1]]


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    received: queue.Queue[str]

    def do_GET(self) -> None:
        self.received.put(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"xerosync: authorisation received, you can close this window.\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the callback (it carries the code) out of the terminal."""


def _authorization_code_flow(
    identity: IdentityClient, settings: Settings, *, no_browser: bool
) -> TokenSet:
    redirect = urlsplit(settings.XERO_REDIRECT_URI)
    received: queue.Queue[str] = queue.Queue()
    handler = type("Callback", (_CallbackHandler,), {"received": received})
    try:
        server = http.server.HTTPServer(
            (redirect.hostname or "localhost", redirect.port or 80), handler
        )
    except OSError as exc:
        raise CommandError(
            f"cannot listen for the redirect on {settings.XERO_REDIRECT_URI} "
            f"(XERO_REDIRECT_URI): {exc.strerror}"
        ) from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        requested = _requested(settings)
        url, state = identity.authorization_url(settings.XERO_REDIRECT_URI, list(requested))
        if settings.uses_sandbox:
            _follow_sandbox_authorize(url)
        else:
            print(f"Open this URL to authorise xerosync:\n\n  {url}\n")
            if not no_browser:
                webbrowser.open(url)
        try:
            path = received.get(timeout=CALLBACK_TIMEOUT_SECONDS)
        except queue.Empty:
            hint = scopes.deprecation_warning(settings.XERO_SCOPES)
            raise CommandError(
                f"no redirect reached {settings.XERO_REDIRECT_URI} within "
                f"{CALLBACK_TIMEOUT_SECONDS}s"
                + (f"; if Xero showed an error about scopes: {hint}" if hint else "")
            ) from None
        redirect_url = urljoin(settings.XERO_REDIRECT_URI, path)
        _refuse_on_oauth_error(redirect_url, settings)
        code = identity.code_from_redirect(redirect_url, state)
        tokens = identity.exchange_code(code, settings.XERO_REDIRECT_URI)
        if not tokens.scope:  # RFC 6749 §5.1: no `scope` means what was asked for
            tokens = replace(tokens, scope=scopes.split(requested))
        return tokens
    finally:
        server.shutdown()
        server.server_close()


def _refuse_on_oauth_error(redirect_url: str, settings: Settings) -> None:
    """An authorize redirect carrying an OAuth error (RFC 6749 §4.1.2.1), e.g. Xero refusing a
    scope at consent, as one line: which scope, that XERO_SCOPES asks for it, what instead."""
    query = parse_qs(urlsplit(redirect_url).query)
    if "error" not in query:
        return
    description = next(iter(query.get("error_description") or []), None)
    raise CommandError(scopes.refusal_message(query["error"][0], description, _requested(settings)))


def _requested(settings: Settings) -> tuple[str, ...]:
    """What the authorize URL asks for: XERO_SCOPES, plus offline_access (always asked)."""
    return scopes.split([*settings.XERO_SCOPES.split(), "offline_access"])


def _client_credentials(identity: IdentityClient, settings: Settings) -> TokenSet:
    """A custom connection's token; a refused scope is named like a refusal at consent.
    OpenID and `offline_access` mean nothing to a custom connection and are not sent."""
    wanted = [s for s in scopes.split(settings.XERO_SCOPES) if s not in scopes.IDENTITY_SCOPES]
    try:
        return identity.client_credentials(wanted)
    except AuthenticationError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        if body.get("error") != "invalid_scope":
            raise
        raise CommandError(
            scopes.refusal_message(
                "invalid_scope", body.get("error_description"), settings.XERO_SCOPES
            )
        ) from None


def _follow_sandbox_authorize(url: str) -> None:
    """The sandbox approves at once: fetch its redirect and hand it to our own callback."""
    response = requests.get(url, allow_redirects=False, timeout=10)
    location = response.headers.get("Location")
    if response.status_code not in (301, 302, 303, 307) or not location:
        raise CommandError(f"the sandbox's authorize page answered {response.status_code}")
    requests.get(location, timeout=10)


def _list(_args: argparse.Namespace) -> int:
    with session_scope(get_engine()) as session:
        rows = list(session.scalars(select(Connection).order_by(Connection.id)))
        if not rows:
            print("no organisation is connected: run `xerosync connect`")
            return 0
        print(f"{'id':>3}  {'organisation':<28} {'tenant id':<37} {'kind':<19} status")
        for row in rows:
            status = row.status + (f" ({row.status_reason})" if row.status_reason else "")
            print(
                f"{row.id:>3}  {row.tenant_name[:28]:<28} {row.tenant_id:<37} "
                f"{row.auth_kind:<19} {status}"
            )
    return 0


def _disconnect(args: argparse.Namespace) -> int:
    settings = get_settings()
    with session_scope(get_engine()) as session:
        try:
            row = find_connection(session, args.tenant)
            cipher = token_cipher(settings)
        except OrganisationError as exc:
            raise CommandError(str(exc)) from None
        if row.token_blob and row.auth_kind != "client_credentials":
            _revoke_in_xero(row, cipher, settings)
        in_use = any(
            session.scalar(select(func.count()).where(model.connection_id == row.id))
            for model in (Customer, Product, Order)
        )
        if in_use:
            row.token_blob = None
            row.status = ConnectionStatus.DISCONNECTED.value
            row.status_reason = "disconnected with `xerosync disconnect`"
            print(f"disconnected {row.tenant_name}; its CRM rows are kept")
        else:
            session.delete(row)
            print(f"disconnected and removed {row.tenant_name}")
    return 0


def _revoke_in_xero(row: Connection, cipher: Any, settings: Settings) -> None:
    """Remove the organisation from the app in Xero too, if the stored token still works."""
    assert row.token_blob is not None
    identity = identity_client(settings)
    try:
        tokens = unseal(row.token_blob, row.token_encrypted, cipher)
        for org in identity.connections(tokens.access_token):
            if org.tenant_id == row.tenant_id:
                identity.disconnect(tokens.access_token, org.id)
    except (XeroError, OrganisationError) as exc:
        print(f"note: could not remove the connection in Xero as well ({exc})", file=sys.stderr)
