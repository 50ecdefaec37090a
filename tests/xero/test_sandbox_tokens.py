"""Against the sandbox: 16 workers (threads and processes) with an expired token cause
exactly one refresh; a lost refresh response is survived; invalid_grant is final."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from typing import Any

import pytest
import redis

from tests.fixtures.sandbox import Sandbox
from tests.xero.support import WorkerSpec, build, connect, identity_for, worker_entry
from xerosync.xero.auth import MemoryTokenStore, RedisTokenStore, TokenManager, TokenSet
from xerosync.xero.budget import BudgetLimits
from xerosync.xero.errors import ReauthorizationRequired, TransportError

pytestmark = pytest.mark.integration


def spec_for(sandbox: Sandbox, redis_url: str, **kw: Any) -> WorkerSpec:
    run = uuid.uuid4().hex[:8]
    return WorkerSpec(
        sandbox_url=sandbox.url,
        redis_url=redis_url,
        tenant_id=sandbox.tenant_id,
        token_prefix=f"test:{run}:tokens",
        budget_prefix=f"test:{run}:budget",
        limits=kw.pop("limits", BudgetLimits(concurrent=20)),
        **kw,
    )


def refreshes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [
        r
        for r in sandbox.control.requests(path="/connect/token")
        if r["grant_type"] == "refresh_token"
    ]


@pytest.mark.parametrize("how", ["stored-expiry", "server-401"])
def test_sixteen_workers_threads_and_processes_one_refresh(
    sandbox: Sandbox, redis_url: str, how: str
) -> None:
    # Limits are not under test here: let all 16 race for the token at once.
    sandbox.control.config(concurrent_limit=20)
    spec = spec_for(sandbox, redis_url)
    store = RedisTokenStore(redis.Redis.from_url(redis_url), None, prefix=spec.token_prefix)
    tokens = connect(sandbox.url)
    if how == "stored-expiry":  # the access token has just expired, as we know it
        tokens = TokenSet.from_dict({**tokens.to_dict(), "expires_at": time.time() - 1})
    else:  # our copy looks valid, but Xero says it expired: every worker gets a 401 first
        assert sandbox.control.expire_tokens() >= 1
    store.save(spec.tenant_id, tokens)
    sandbox.control.clear_requests()

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(16)
    results = ctx.Queue()
    processes = [ctx.Process(target=worker_entry, args=(spec, barrier, results)) for _ in range(8)]
    threads = [
        threading.Thread(target=worker_entry, args=(spec, barrier, results)) for _ in range(8)
    ]
    for p in processes:
        p.start()
    for t in threads:
        t.start()
    outcomes = [results.get(timeout=90) for _ in range(16)]
    for t in threads:
        t.join()
    for p in processes:
        p.join(timeout=30)

    assert [o for o in outcomes if o[0] != "ok"] == []
    assert len(refreshes(sandbox)) == 1
    assert refreshes(sandbox)[0]["status"] == 200
    calls = sandbox.control.requests(path="/api.xro/2.0/Currencies")
    assert sum(1 for c in calls if c["status"] == 200) == 16
    saved = store.load(spec.tenant_id)
    assert saved is not None and saved.refresh_token != tokens.refresh_token


def test_lost_refresh_response_is_survived_in_the_grace_period(
    sandbox: Sandbox, redis_url: str
) -> None:
    spec = spec_for(sandbox, redis_url)
    xero, manager, store = build(spec)
    first = connect(sandbox.url)
    store.save(spec.tenant_id, TokenSet.from_dict({**first.to_dict(), "expires_at": 0}))
    sandbox.control.add_fault("lost_response", path="/connect/token", method="POST")
    sandbox.control.clear_requests()

    assert len(xero.get_all("Currencies")) > 0

    attempts = refreshes(sandbox)
    assert [a["fault"] for a in attempts] == ["lost_response", None]
    assert all(a["status"] == 200 for a in attempts)  # applied both times: the grace period
    saved = store.load(spec.tenant_id)
    assert saved is not None and saved.refresh_token not in (None, first.refresh_token)
    # The pair we kept is the live one: it refreshes again.
    assert identity_for(sandbox.url).refresh(saved.refresh_token or "").refresh_token
    assert manager.store.load(spec.tenant_id) is not None


def test_lost_refresh_then_a_later_try_uses_the_same_old_token(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    """All attempts of one refresh lost: nothing saved; the next refresh, still within the
    grace period, succeeds with the same old refresh token."""
    store = MemoryTokenStore()
    first = connect(sandbox.url)
    store.save("t", TokenSet.from_dict({**first.to_dict(), "expires_at": 0}))
    manager = TokenManager(
        key="t",
        store=store,
        identity=identity_for(sandbox.url),
        redis_client=real_redis,
        refresh_attempts=1,
    )
    sandbox.control.add_fault("lost_response", path="/connect/token")
    with pytest.raises(TransportError) as info:
        manager.access_token()
    assert info.value.retryable
    stored = store.load("t")
    assert stored is not None and stored.refresh_token == first.refresh_token
    sandbox.control.advance_clock(600)  # later, but inside Xero's 30-minute grace
    assert manager.access_token()
    assert [r["status"] for r in refreshes(sandbox)] == [200, 200]


def test_after_the_grace_period_invalid_grant_marks_the_connection(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    store = MemoryTokenStore()
    first = connect(sandbox.url)
    store.save("t", TokenSet.from_dict({**first.to_dict(), "expires_at": 0}))
    manager = TokenManager(
        key="t",
        store=store,
        identity=identity_for(sandbox.url),
        redis_client=real_redis,
        refresh_attempts=1,
    )
    sandbox.control.add_fault("lost_response", path="/connect/token")
    with pytest.raises(TransportError):
        manager.access_token()
    sandbox.control.advance_clock(1801)
    with pytest.raises(ReauthorizationRequired) as info:
        manager.access_token()
    assert not info.value.retryable
    assert "t" in store.needs_reauth
    assert refreshes(sandbox)[-1]["status"] == 400


def test_custom_connection_client_credentials(sandbox: Sandbox, real_redis: redis.Redis) -> None:
    identity = identity_for(sandbox.url)
    tokens = identity.client_credentials("accounting.settings")
    assert tokens.refresh_token is None and tokens.grant == "client_credentials"
    store = MemoryTokenStore()
    store.save("cc", TokenSet.from_dict({**tokens.to_dict(), "expires_at": 0}))
    manager = TokenManager(key="cc", store=store, identity=identity, redis_client=real_redis)
    assert manager.access_token() != tokens.access_token
    grants = [r["grant_type"] for r in sandbox.control.requests(path="/connect/token")]
    assert grants == ["client_credentials", "client_credentials"]


def test_connections_are_listed(sandbox: Sandbox) -> None:
    tokens = connect(sandbox.url)
    orgs = identity_for(sandbox.url).connections(tokens.access_token)
    assert sandbox.tenant_id in [o.tenant_id for o in orgs]
    assert all(o.tenant_type == "ORGANISATION" and o.created is not None for o in orgs)
