"""Run the sandbox: in a background thread (tests, `make run`) or in the foreground (CLI)."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from xerosync.sandbox import persistence, webhooks
from xerosync.sandbox.app import SandboxApp
from xerosync.sandbox.config import SandboxConfig
from xerosync.sandbox.state import SandboxState

log = logging.getLogger("xerosync.sandbox")


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log line (the request log is at /_sandbox/requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if log.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread."""

    url: str
    state: SandboxState
    server: BaseWSGIServer
    thread: threading.Thread
    saver: persistence.Saver | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return str(self.server.host)

    @property
    def port(self) -> int:
        return int(self.server.port)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        webhooks.stop(self.state)
        if self.saver is not None:
            self.saver.stop()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build(
    state_file: str | Path | None = None, webhook_url: str | None = None, **config: Any
) -> tuple[SandboxState, persistence.Saver | None]:
    """State seeded with the Demo Company (or loaded from `state_file`); with `webhook_url`,
    its changes are sent there as Xero's webhooks (webhooks.py)."""
    base = SandboxConfig()
    base.update(config)
    state = SandboxState(base)
    saver = None
    if state_file:
        path = Path(state_file)
        if not persistence.load(state, path):
            state.reset("demo")
            persistence.save(state, path)
        saver = persistence.Saver(state, path)
        saver.start()
    else:
        state.reset("demo")
    if webhook_url:
        webhooks.sender_for(state).configure({"url": webhook_url})
    return state, saver


def _server(host: str, port: int, state: SandboxState) -> BaseWSGIServer:
    server = make_server(
        host, port, SandboxApp(state), threaded=True, request_handler=_QuietHandler
    )
    server.daemon_threads = True  # type: ignore[attr-defined]
    return server


def start_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state_file: str | Path | None = None,
    **config: Any,
) -> RunningSandbox:
    """Serve on `host:port` (0 = a free port) in a daemon thread; `.url`, `.stop()`."""
    state, saver = build(state_file, **config)
    server = _server(host, port, state)
    thread = threading.Thread(target=server.serve_forever, name="xero-sandbox", daemon=True)
    thread.start()
    url = f"http://{host}:{server.port}"
    return RunningSandbox(url, state, server, thread, saver)


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    state_file: str | Path | None = None,
    **config: Any,
) -> None:
    """Serve in the foreground until interrupted (the `xerosync sandbox` command)."""
    state, saver = build(state_file, **config)
    server = _server(host, port, state)
    log.info("Xero sandbox listening on http://%s:%s", host, server.port)
    # `make run` (honcho) stops its processes with SIGTERM: leave through `finally`, so the
    # last changes are saved.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        server.serve_forever()
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        server.server_close()
        if saver is not None:
            saver.stop()
