"""`Idempotency-Key` replay: a key remembers its request's fingerprint and response.

Keys are scoped per app (client id) and expire `idempotency_seconds` after the first call
(Xero: 6 minutes). Error responses are remembered too. The same key with a different method,
path, query or body gets a 400. Requests run under the sandbox lock, so a concurrent duplicate
waits for the first and then replays it (Xero's behaviour there is unconfirmed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_KEY_LENGTH = 128


@dataclass
class Stored:
    fingerprint: str
    expires_at: float
    status: int
    headers: dict[str, str]
    body: bytes


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore:
    """Callers hold the sandbox lock."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Stored] = {}

    def lookup(self, app_id: str, key: str, now: float) -> Stored | None:
        entry = self.entries.get((app_id, key))
        if entry is not None and entry.expires_at <= now:
            del self.entries[(app_id, key)]
            return None
        return entry

    def remember(self, app_id: str, key: str, entry: Stored, now: float) -> None:
        self.entries[(app_id, key)] = entry
        if len(self.entries) > 50_000:
            self.prune(now)

    def prune(self, now: float) -> None:
        for k in [k for k, v in self.entries.items() if v.expires_at <= now]:
            del self.entries[k]
