"""Helpers for tests against the sandbox: connecting, and workers that run in threads or
processes (top-level functions so `multiprocessing` can start them with spawn)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from xerosync.sandbox.control import SandboxControl
from xerosync.xero.auth import IdentityClient, RedisTokenStore, TokenManager, TokenSet
from xerosync.xero.budget import BudgetLimits, RateBudget
from xerosync.xero.client import XeroClient
from xerosync.xero.errors import XeroError


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, picklable."""

    sandbox_url: str
    redis_url: str
    tenant_id: str
    token_prefix: str
    budget_prefix: str
    limits: BudgetLimits
    refresh_attempts: int = 3
    attempts: int = 50


def identity_for(url: str, timeout: float = 10.0) -> IdentityClient:
    return IdentityClient.for_urls(
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        identity_url=url,
        login_url=url,
        base_url=url,
        timeout=timeout,
    )


def connect(url: str, redirect_uri: str = "http://localhost:8766/callback") -> TokenSet:
    """The authorization-code flow as `xerosync connect` runs it, minus the browser."""
    import requests

    identity = identity_for(url)
    auth_url, state = identity.authorization_url(redirect_uri)
    response = requests.get(auth_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    code = identity.code_from_redirect(response.headers["Location"], state)
    return identity.exchange_code(code, redirect_uri)


def build(spec: WorkerSpec) -> tuple[XeroClient, TokenManager, RedisTokenStore]:
    client = redis.Redis.from_url(spec.redis_url)
    store = RedisTokenStore(client, None, prefix=spec.token_prefix)
    tokens = TokenManager(
        key=spec.tenant_id,
        store=store,
        identity=identity_for(spec.sandbox_url),
        redis_client=client,
        refresh_attempts=spec.refresh_attempts,
        lock_prefix=f"{spec.token_prefix}:lock",
    )
    budget = RateBudget(client, spec.limits, prefix=spec.budget_prefix)
    xero = XeroClient(
        api_url=f"{spec.sandbox_url}/api.xro/2.0",
        tenant_id=spec.tenant_id,
        tokens=tokens,
        budget=budget,
        timeout=10.0,
    )
    return xero, tokens, store


def call_like_a_task(spec: WorkerSpec, resource: str = "Currencies") -> tuple[str, Any]:
    """One read, retried when the error says a retry helps (as a Celery task would)."""
    xero, _, _ = build(spec)
    last: XeroError | None = None
    for _ in range(spec.attempts):
        try:
            return "ok", len(xero.get_all(resource))
        except XeroError as exc:
            last = exc
            if not exc.retryable:
                return "error", repr(exc)
            time.sleep(min(exc.retry_after or 0.05, 0.5))
    return "error", repr(last)


def worker_entry(spec: WorkerSpec, barrier: Any, results: Any) -> None:
    """Thread or process body: wait for everyone, then call; report the outcome."""
    try:
        barrier.wait(timeout=60)
        results.put(call_like_a_task(spec))
    except BaseException as exc:  # the parent counts it as a failure
        results.put(("error", repr(exc)))


def sandbox_control(url: str) -> SandboxControl:
    return SandboxControl(url)
