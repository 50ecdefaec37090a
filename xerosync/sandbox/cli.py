"""`xerosync sandbox`: serve the local Xero-compatible API."""

from __future__ import annotations

import argparse
import contextlib
import logging
from datetime import date
from typing import Any

from xerosync.sandbox.config import TIER_DAY_LIMITS
from xerosync.settings import get_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="serve a local Xero-compatible API (the embedded default)",
        description="Serve a local Xero-compatible API with a seeded Demo Company.",
    )
    parser.add_argument("--host", default=None, help="bind address (default: SANDBOX_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default: SANDBOX_PORT)")
    parser.add_argument(
        "--state",
        default=None,
        metavar="FILE",
        help="keep data in FILE across restarts (default: SANDBOX_STATE_FILE)",
    )
    parser.add_argument(
        "--app-created",
        default=None,
        metavar="DATE",
        type=_iso_date,
        help="when the Xero app was created (ISO date; default 2026-03-02: a "
        "new app, refused the deprecated broad scopes)",
    )
    parser.add_argument(
        "--legacy-app",
        action="store_true",
        help="an app created before 2 March 2026: accounting.transactions "
        "and the other broad scopes are still granted",
    )
    parser.add_argument(
        "--tier",
        default=None,
        choices=sorted(TIER_DAY_LIMITS),
        help="Xero developer tier whose limits to apply (starter: 1,000 calls "
        "a day per connection; the others 5,000)",
    )
    parser.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="send Xero's webhooks for the sandbox's changes to URL, signed "
        "with the sandbox's key (default: SANDBOX_WEBHOOK_URL; none)",
    )
    parser.set_defaults(handler=run)


def _iso_date(raw: str) -> str:
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        message = f"expected an ISO date such as 2025-06-01, got {raw!r}"
        raise argparse.ArgumentTypeError(message) from None


def run(args: argparse.Namespace) -> int:
    from xerosync.sandbox import DEMO_TENANT_ID, DEMO_TENANT_NAME
    from xerosync.sandbox.server import serve_forever

    settings = get_settings()
    host = args.host or settings.SANDBOX_HOST
    port = args.port if args.port is not None else settings.SANDBOX_PORT
    state = args.state or settings.SANDBOX_STATE_FILE
    logging.basicConfig(level=settings.LOG_LEVEL, format="%(message)s")
    print(f"Xero sandbox on http://{host}:{port}  ({DEMO_TENANT_NAME}: {DEMO_TENANT_ID})")
    print(
        f"  accounting: http://{host}:{port}/api.xro/2.0   control: http://{host}:{port}/_sandbox/"
    )
    if state:
        print(f"  state file: {state}")
    config: dict[str, Any] = {}
    if settings.SANDBOX_CLIENT_ID:
        config["client_id"] = settings.SANDBOX_CLIENT_ID
    if settings.SANDBOX_CLIENT_SECRET:
        config["client_secret"] = settings.SANDBOX_CLIENT_SECRET
    if args.legacy_app or args.app_created:
        config["app_created"] = args.app_created or "2025-06-01"
        print(f"  Xero app created {config['app_created']}")
    if args.tier:
        config["tier"] = args.tier
        print(f"  tier {args.tier}: {TIER_DAY_LIMITS[args.tier]:,} calls a day per connection")
    webhook_url = args.webhook_url or settings.SANDBOX_WEBHOOK_URL
    if webhook_url:
        config["webhook_url"] = webhook_url
        print(f"  webhooks to {webhook_url}")
    from xerosync.cli import CommandError
    from xerosync.sandbox.persistence import StateFileError

    try:
        with contextlib.suppress(KeyboardInterrupt):
            serve_forever(host, port, state_file=state, **config)
    except StateFileError as exc:
        raise CommandError(str(exc)) from None
    return 0
