"""`xerosync webhooks`: the receiver Xero posts its webhooks to (`/webhooks/xero`)."""

from __future__ import annotations

import argparse
import logging
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "webhooks", help="receive Xero's webhooks (verify the signature, queue the events)"
    )
    parser.add_argument("--host", help="address to listen on (default: WEBHOOK_HOST, loopback)")
    parser.add_argument("--port", type=int, help="port (default: WEBHOOK_PORT, 8767)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from xerosync.cli import CommandError
    from xerosync.observability import configure_logging, init_sentry
    from xerosync.settings import get_settings
    from xerosync.webhooks.server import WebhooksNotConfigured, build_receiver, serve

    settings = get_settings()
    configure_logging(settings)
    init_sentry(settings)
    try:
        build_receiver(settings)
    except WebhooksNotConfigured as exc:
        raise CommandError(str(exc)) from None
    host, port = args.host or settings.WEBHOOK_HOST, args.port or settings.WEBHOOK_PORT
    logging.getLogger("xerosync.webhooks").info(
        "receiving Xero's webhooks at http://%s:%s/webhooks/xero", host, port
    )
    serve(settings, host, port)
    return 0
