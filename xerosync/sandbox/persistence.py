"""`--state FILE`: keep the sandbox's data across restarts.

The state is pickled (fast for 100k invoices) and written atomically (temp file, fsync,
rename) by a background thread at most once per `interval` seconds, and only when something
changed — never on every request. The request log and armed faults are not kept.
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


def snapshot(state: SandboxState) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "tenants": state.tenants,
        "identity": state.identity,
        "config": state.config.as_dict(),
        "clock_offset": state.clock.offset,
        "idempotency": state.idempotency,
    }


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
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        data = pickle.load(handle)  # a file the operator pointed us at
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported sandbox state version {data.get('version')}")
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
