"""The webhook receiver: a WSGI app that verifies and queues, and does nothing else.

Xero's rules (XERO_FACTS §13): answer 200 with an empty body to a correctly signed delivery
within 5 seconds, and 401 to any other, "intent to receive" deliveries (no events) included.
Nothing is done for a delivery whose signature is wrong. When the events cannot be queued the
answer is 503, never 200, so Xero delivers them again. The body is bounded: a body over the
limit is refused (413) before it is read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from xerosync.webhooks import events as webhook_events
from xerosync.webhooks import signature

log = logging.getLogger("xerosync.webhooks")

PATH = "/webhooks/xero"
Enqueue = Callable[[str, list[dict[str, str]], float], None]
"""Queue one organisation's events: (tenant id, events as dicts, time received)."""

StartResponse = Callable[..., Any]


class Receiver:
    """`Receiver(key, enqueue)` is a WSGI application."""

    def __init__(self, key: str, enqueue: Enqueue, *, max_body_bytes: int = 1_048_576) -> None:
        if not key:
            raise ValueError("a webhook key is needed to check Xero's signatures")
        self.key = key
        self.enqueue = enqueue
        self.max_body_bytes = max_body_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status = self._handle(environ)
        start_response(status, [("Content-Length", "0")])
        return [b""]

    def _handle(self, environ: dict[str, Any]) -> str:
        if environ.get("PATH_INFO", "") != PATH:
            return "404 Not Found"
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return "400 Bad Request"
        if length > self.max_body_bytes:
            log.warning("webhook refused: body of %d bytes is over the limit", length)
            return "413 Content Too Large"
        body = environ["wsgi.input"].read(length) if length else b""
        if not signature.is_valid(body, environ.get("HTTP_X_XERO_SIGNATURE"), self.key):
            log.warning("webhook refused: signature does not match (401)")
            return "401 Unauthorized"
        try:
            delivery = webhook_events.parse(body)
        except webhook_events.MalformedDelivery as exc:
            log.warning("webhook refused: %s", exc)
            return "400 Bad Request"
        received = time.time()
        try:
            for tenant, tenant_events in webhook_events.by_tenant(delivery.events).items():
                self.enqueue(tenant, [e.as_dict() for e in tenant_events], received)
        except Exception as exc:  # the broker is away: Xero must deliver this again
            log.error(
                "webhook not queued (%s: %s); answered 503 so Xero retries", type(exc).__name__, exc
            )
            return "503 Service Unavailable"
        if delivery.is_intent_to_receive:
            log.info("webhook intent-to-receive check answered")
        else:
            log.info(
                "webhook: %d event(s) queued, %d ignored (sequence %s-%s)",
                len(delivery.events),
                delivery.dropped,
                delivery.first_sequence,
                delivery.last_sequence,
            )
        return "200 OK"
