"""Token handling: one refresh at a time, re-read under the lock, invalid_grant, lost answers."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from tests.xero.fakes import FakeIdentity
from xerosync.xero.auth import (
    IdentityClient,
    MemoryTokenStore,
    RedisTokenStore,
    TokenManager,
    TokenSet,
)
from xerosync.xero.crypto import TokenCipher, TokenCipherError
from xerosync.xero.errors import AuthenticationError, ReauthorizationRequired, TokenRefreshBusy

KEY = "tenant-1"


def manager(
    identity: FakeIdentity, store: object, redis_client: redis.Redis, **kw: object
) -> TokenManager:
    return TokenManager(
        key=KEY,
        store=store,
        identity=identity,
        redis_client=redis_client,  # type: ignore[arg-type]
        clock=lambda: identity.clock_now,
        **kw,  # type: ignore[arg-type]
    )


def expired_store(identity: FakeIdentity) -> MemoryTokenStore:
    store = MemoryTokenStore()
    identity.valid_refresh.add("r0")
    store.save(
        KEY, TokenSet(access_token="a0", refresh_token="r0", expires_at=identity.clock_now - 1)
    )
    return store


def test_fresh_token_is_used_without_refresh(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    store = MemoryTokenStore()
    store.save(KEY, TokenSet(access_token="a0", refresh_token="r0", expires_at=5000))
    assert manager(identity, store, real_redis).access_token() == "a0"
    assert identity.refresh_calls == 0


def test_refreshed_before_expiry_within_the_margin(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    identity.valid_refresh.add("r0")
    store = MemoryTokenStore()
    store.save(
        KEY, TokenSet(access_token="a0", refresh_token="r0", expires_at=identity.clock_now + 60)
    )
    assert manager(identity, store, real_redis, refresh_margin=120).access_token() == "a1"
    saved = store.load(KEY)
    assert saved is not None and saved.refresh_token == "r1"


def test_many_threads_many_managers_one_refresh(redis_url: str) -> None:
    identity = FakeIdentity()
    store = expired_store(identity)
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def worker() -> None:
        tm = manager(identity, store, redis.Redis.from_url(redis_url))
        start.wait()
        try:
            results.append(tm.access_token())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert identity.refresh_calls == 1
    assert results == ["a1"] * 16


def test_401_refreshes_once_and_only_if_the_stored_token_is_the_rejected_one(
    real_redis: redis.Redis,
) -> None:
    identity = FakeIdentity()
    identity.valid_refresh.add("r0")
    store = MemoryTokenStore()
    store.save(KEY, TokenSet(access_token="a0", refresh_token="r0", expires_at=5000))
    tm = manager(identity, store, real_redis)
    assert tm.after_unauthorized("a0") == "a1"
    # Another worker also got a 401 for a0: it finds a1 already stored, no second refresh.
    assert manager(identity, store, real_redis).after_unauthorized("a0") == "a1"
    assert identity.refresh_calls == 1


def test_invalid_grant_marks_the_connection_and_is_final(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    store = MemoryTokenStore()
    store.save(KEY, TokenSet(access_token="a0", refresh_token="revoked", expires_at=0))
    with pytest.raises(ReauthorizationRequired) as info:
        manager(identity, store, real_redis).access_token()
    assert not info.value.retryable
    assert KEY in store.needs_reauth
    assert real_redis.get(f"xerosync:token-lock:{KEY}") is None  # lock released


def test_lost_refresh_response_is_retried_with_the_same_token(real_redis: redis.Redis) -> None:
    identity = FakeIdentity(lose_responses=1)
    store = expired_store(identity)
    token = manager(identity, store, real_redis).access_token()
    assert identity.refresh_calls == 2 and token == "a2"
    saved = store.load(KEY)
    assert saved is not None and saved.refresh_token == "r2"


def test_refresh_busy_elsewhere_waits_briefly_then_says_retry(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    store = expired_store(identity)
    real_redis.set(f"xerosync:token-lock:{KEY}", "someone-else", px=10_000)
    with pytest.raises(TokenRefreshBusy) as info:
        manager(identity, store, real_redis, lock_wait=0.3).access_token()
    assert info.value.retryable and identity.refresh_calls == 0


def test_client_credentials_fetches_a_new_token(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    store = MemoryTokenStore()
    store.save(KEY, TokenSet(access_token="cc0", expires_at=0, grant="client_credentials"))
    assert manager(identity, store, real_redis).access_token() == "cc1"


def test_no_refresh_token_needs_reauth(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()
    store = MemoryTokenStore()
    with pytest.raises(ReauthorizationRequired):
        manager(identity, store, real_redis).access_token()
    assert KEY in store.needs_reauth


def test_redis_store_encrypts_and_round_trips(real_redis: redis.Redis) -> None:
    cipher = TokenCipher(TokenCipher.generate_key())
    store = RedisTokenStore(real_redis, cipher)
    tokens = TokenSet(
        access_token="a-secret",
        refresh_token="r-secret",
        expires_at=12.5,
        scope=("offline_access",),
    )
    store.save(KEY, tokens)
    raw = real_redis.get(f"xerosync:tokens:{KEY}")
    assert raw is not None and b"secret" not in raw
    assert store.load(KEY) == tokens
    store.mark_needs_reauth(KEY, "gone")
    assert store.needs_reauth(KEY) == "gone"
    other = RedisTokenStore(real_redis, TokenCipher(TokenCipher.generate_key()))
    with pytest.raises(TokenCipherError, match="cannot be decrypted"):
        other.load(KEY)


@pytest.mark.parametrize("key", ["", "short", "x" * 44])
def test_bad_cipher_keys_say_what_is_wrong(key: str) -> None:
    with pytest.raises(TokenCipherError, match="TOKEN_ENCRYPTION_KEY"):
        TokenCipher(key)


def test_secrets_never_in_repr() -> None:
    tokens = TokenSet(
        access_token="a-secret", refresh_token="r-secret", expires_at=1, id_token="i-secret"
    )
    identity = IdentityClient("cid", "c-secret", "http://t", "http://a", "http://c")
    for text in (repr(tokens), repr(identity), repr(TokenCipher(TokenCipher.generate_key()))):
        assert "secret" not in text


def test_authorization_url_has_state_and_offline_access() -> None:
    identity = IdentityClient.for_urls(
        client_id="cid",
        client_secret="sec",
        identity_url="http://127.0.0.1:1",
        login_url="http://127.0.0.1:1",
        base_url="http://127.0.0.1:1",
    )
    url, state = identity.authorization_url(
        "http://localhost:8766/callback", ["accounting.contacts"]
    )
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/identity/connect/authorize"
    assert query["state"] == [state] and query["response_type"] == ["code"]
    assert "offline_access" in query["scope"][0].split()
    redirect = f"http://localhost:8766/callback?code=abc&state={state}"
    assert identity.code_from_redirect(redirect, state) == "abc"
    with pytest.raises(AuthenticationError, match="state"):
        identity.code_from_redirect("http://localhost/cb?code=abc&state=forged", state)
