"""`--state FILE` / `SANDBOX_STATE_FILE`: keep the sandbox's whole state across restarts.

Kept: every tenant (contacts, items, invoices, credit notes, settings, number sequences),
identity (authorization codes, access and refresh tokens, connections), idempotency records,
the config and the clock offset. Not kept: the request log, armed faults and the rate-limit
windows (a restart opens new ones). The state is pickled (fast for 100k invoices) and written
atomically (temp file in the same directory, fsync, rename) by a background thread at most
once per `interval` seconds, only when something changed, and once more on shutdown
(SIGTERM included). A file that cannot be read is a `StateFileError`: one line naming it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

from xerosync.sandbox.state import SandboxState

FORMAT_VERSION = 1


class StateFileError(ValueError):
    """The state file exists but is not a sandbox state this version can load."""


def snapshot(state: SandboxState) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "tenants": state.tenants,
        "identity": state.identity,
        "config": state.config.as_dict(),
        "clock_offset": state.clock.offset,
        "idempotency": state.idempotency,
    }


_COMPLETE = frozenset({"version", "tenants", "identity", "config", "clock_offset", "idempotency"})


def save(state: SandboxState, path: Path) -> None:
    with state.lock:
        data = pickle.dumps(snapshot(state), protocol=pickle.HIGHEST_PROTOCOL)
        state.dirty = False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(state: SandboxState, path: Path) -> bool:
    """Restore from `path`; False when there is no file yet."""
    if not path.exists():
        return False
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)  # a file the operator pointed us at
    except Exception as exc:  # truncated, not a pickle, from other code: all unreadable
        raise StateFileError(
            f"{path}: not a readable sandbox state file ({type(exc).__name__}: {exc}); "
            "move it away to start afresh"
        ) from None
    if not isinstance(data, dict) or not _COMPLETE.issubset(data):
        raise StateFileError(f"{path}: not a sandbox state file; move it away to start afresh")
    if data.get("version") != FORMAT_VERSION:
        raise StateFileError(
            f"{path}: sandbox state version {data.get('version')}, this sandbox reads "
            f"{FORMAT_VERSION}; move it away to start afresh"
        )
    with state.lock:
        state.tenants = data["tenants"]
        state.identity = data["identity"]
        state.config.update({k: v for k, v in data["config"].items() if v is not None})
        state.clock.set_offset(float(data["clock_offset"]))
        state.idempotency = data["idempotency"]
        state.dirty = False
    return True


class Saver:
    """Writes the state in the background when dirty, at most every `interval` seconds."""

    def __init__(self, state: SandboxState, path: Path, interval: float = 1.0) -> None:
        self.state = state
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-saver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.state.dirty:
                save(self.state, self.path)

    def stop(self) -> None:
        """Stop and write any last changes."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self.state.dirty:
            save(self.state, self.path)
