"""Queue a task once, quickly, or raise: for callers that must not wait on a broker that is
down (the CRM's save, the webhook receiver's 5-second answer).

Celery's defaults retry the publish and kombu retries the connection for its connect timeout,
so a bare `.delay()` holds its caller for seconds before raising. Here there is one try.
"""

from __future__ import annotations

from typing import Any

import kombu.exceptions
import redis

CONNECT_SECONDS = 2.0
"""How long a publish may wait for the broker's socket (a remote broker's handshake)."""

BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    redis.RedisError,
    OSError,
)
"""What a publish raises when the broker cannot take the message."""


def send_once(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> None:
    """Publish `task(*args, **kwargs)` with no retries; raises one of BROKER_ERRORS."""
    with task.app.connection_for_write(
        connect_timeout=CONNECT_SECONDS, transport_options={"max_retries": 0}
    ) as connection:
        task.apply_async(args, kwargs or {}, retry=False, connection=connection)
