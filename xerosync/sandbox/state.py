"""Everything the sandbox remembers, behind one lock.

One re-entrant lock guards all state. Handlers are quick (dict work), and the deliberate
waits (latency, slow faults) happen outside it, so requests still overlap in flight the way
the concurrent limit needs.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from xerosync.sandbox import DEMO_TENANT_ID, DEMO_TENANT_NAME
from xerosync.sandbox.clock import Clock
from xerosync.sandbox.config import SandboxConfig
from xerosync.sandbox.faults import Faults
from xerosync.sandbox.idempotency import IdempotencyStore
from xerosync.sandbox.identity import Identity
from xerosync.sandbox.ratelimit import RateLimiter
from xerosync.sandbox.store import Tenant

REQUEST_LOG_SIZE = 200_000


class SandboxState:
    """Tenants, identity, limits, faults, idempotency keys and the request log."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.lock = threading.RLock()
        self.base_config = config or SandboxConfig()
        self.config = SandboxConfig(**self.base_config.as_dict())
        self.clock = Clock()
        self.tenants: dict[str, Tenant] = {}
        self.identity = Identity()
        self.limiter = RateLimiter()
        self.faults = Faults()
        self.idempotency = IdempotencyStore()
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.seq = 0
        self.dirty = False

    def reset(self, seed: str = "demo") -> None:
        """Fresh data, default config, no faults, empty log, clock offset 0."""
        with self.lock:
            self.config = SandboxConfig(**self.base_config.as_dict())
            self.clock.set_offset(0.0)
            self.tenants = {}
            self.identity = Identity()
            self.limiter = RateLimiter()
            self.faults = Faults()
            self.idempotency = IdempotencyStore()
            self.requests.clear()
            self.seq = 0
            self.add_tenant(DEMO_TENANT_ID, DEMO_TENANT_NAME, seed)
            self.dirty = True

    def add_tenant(self, tenant_id: str, name: str, seed: str = "demo") -> Tenant:
        from xerosync.sandbox.seed import seed_tenant

        if seed not in ("demo", "empty"):
            raise ValueError('seed must be "demo" or "empty"')
        tenant = Tenant(tenant_id, name, self.clock.now())
        seed_tenant(tenant, self.clock.now(), full=seed == "demo")
        self.tenants[tenant_id] = tenant
        self.dirty = True
        return tenant

    def log(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        entry["seq"] = self.seq
        self.requests.append(entry)
        return entry
