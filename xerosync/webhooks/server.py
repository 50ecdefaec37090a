"""The receiver as a process: Xero's key and the broker from the settings, served by waitress
(a production WSGI server: threads, bounded request sizes, no debug pages)."""

from __future__ import annotations

import threading
from typing import Any

import redis

from xerosync.publish import send_once
from xerosync.settings import Settings
from xerosync.sync import webhook_health as health
from xerosync.webhooks.receiver import Receiver


class WebhooksNotConfigured(RuntimeError):
    """XERO_WEBHOOK_KEY is not set: no delivery could be checked, so none is accepted."""


def enqueue_with_celery(tenant_id: str, events: list[dict[str, str]], received_at: float) -> None:
    from xerosync.webhooks.tasks import apply_webhook_events

    send_once(apply_webhook_events, (tenant_id, events, received_at))


def webhook_key(settings: Settings) -> str | None:
    """XERO_WEBHOOK_KEY; against the sandbox, when empty, the key the sandbox signs with."""
    if settings.XERO_WEBHOOK_KEY:
        return settings.XERO_WEBHOOK_KEY
    if settings.uses_sandbox:
        from xerosync.sandbox import WEBHOOK_KEY

        return WEBHOOK_KEY
    return None


def build_receiver(settings: Settings) -> Receiver:
    key = webhook_key(settings)
    if not key:
        raise WebhooksNotConfigured(
            "XERO_WEBHOOK_KEY is not set: copy the webhook key from the Xero developer portal "
            "(your app, Webhooks) into .env"
        )
    return Receiver(
        key,
        enqueue_with_celery,
        max_body_bytes=settings.WEBHOOK_MAX_BODY_BYTES,
    )


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until stopped (Ctrl-C / SIGTERM)."""
    import waitress

    options: dict[str, Any] = {
        "host": host or settings.WEBHOOK_HOST,
        "port": port or settings.WEBHOOK_PORT,
        "threads": 8,
        "max_request_body_size": settings.WEBHOOK_MAX_BODY_BYTES,
        "channel_timeout": 10,
        "ident": "xerosync",
    }
    receiver = build_receiver(settings)
    stop = threading.Event()
    health.keep_beating(redis.Redis.from_url(settings.REDIS_URL), stop)
    try:
        waitress.serve(receiver, **options)
    finally:
        stop.set()
