"""OAuth2 with Xero: connecting, token storage, and exactly one refresh at a time.

Xero rotates refresh tokens: each refresh returns a new pair and retires the old refresh token
(it stays usable for a grace period, Xero's answer to a lost response). Two processes refreshing
the same organisation at once is the classic `invalid_grant` bug, so `TokenManager` refreshes
only under a Redis lock, re-reads the stored tokens after taking it, refreshes only if still
needed and saves the new pair before releasing. Processes that find the lock taken wait briefly
(the one bounded wait in the client) and re-read.

A refresh answered with `invalid_grant` marks the connection as needing re-authorisation in the
store and raises `ReauthorizationRequired` (never retryable), so tasks stop failing forever.
A lost refresh response is retried with the same refresh token while the lock is held; if all
attempts fail nothing is saved and the next refresh uses the same token, still in its grace.

Secrets never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlsplit

import redis
import requests
from requests_oauthlib import OAuth2Session

from xerosync.xero import codec
from xerosync.xero.crypto import TokenCipher
from xerosync.xero.errors import (
    AuthenticationError,
    ReauthorizationRequired,
    ServerError,
    TokenRefreshBusy,
    TransportError,
    XeroError,
    XeroTimeout,
    error_from_response,
)
from xerosync.xero.scopes import XEROSYNC_SCOPES

log = logging.getLogger(__name__)

DEFAULT_SCOPES = XEROSYNC_SCOPES
"""The granular scopes for exactly what xerosync reads and writes (see `xerosync.xero.scopes`)."""


@dataclass(frozen=True)
class TokenSet:
    """One connection's tokens. `expires_at` is epoch seconds; secrets are hidden from repr."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    scope: tuple[str, ...] = ()
    id_token: str | None = field(default=None, repr=False)
    obtained_at: float | None = None
    grant: str = "authorization_code"
    """"authorization_code" (refreshable) or "client_credentials" (custom connection)."""

    @classmethod
    def from_response(
        cls, body: Mapping[str, Any], *, now: float, grant: str = "authorization_code"
    ) -> TokenSet:
        try:
            access = str(body["access_token"])
            expires_in = float(body.get("expires_in", 1800))
        except (KeyError, TypeError, ValueError):
            raise AuthenticationError("token endpoint answered without an access token") from None
        scope = body.get("scope") or ""
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(scope)
        return cls(
            access_token=access,
            expires_at=now + expires_in,
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            token_type=str(body.get("token_type") or "Bearer"),
            scope=scopes,
            id_token=str(body["id_token"]) if body.get("id_token") else None,
            obtained_at=now,
            grant=grant,
        )

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds

    @property
    def refreshable(self) -> bool:
        return self.refresh_token is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scope"] = list(self.scope)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        values = dict(data)
        values["scope"] = tuple(values.get("scope") or ())
        for name in ("expires_at", "obtained_at"):
            if values.get(name) is not None:
                values[name] = float(values[name])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@runtime_checkable
class TokenStore(Protocol):
    """Where a connection's tokens live. `key` names the connection (e.g. the tenant id).

    Implementations must make `save` durable before returning: the refresh lock is released
    right after it.
    """

    def load(self, key: str) -> TokenSet | None: ...

    def save(self, key: str, tokens: TokenSet) -> None: ...

    def mark_needs_reauth(self, key: str, reason: str) -> None: ...

    def reauth_reason(self, key: str) -> str | None:
        """Why the connection waits for re-authorisation, or None while it is usable."""
        ...


class MemoryTokenStore:
    """A process-local store: for tests and one-off scripts."""

    def __init__(self) -> None:
        self._tokens: dict[str, TokenSet] = {}
        self.needs_reauth: dict[str, str] = {}
        self.saves = 0
        self._lock = threading.Lock()

    def load(self, key: str) -> TokenSet | None:
        with self._lock:
            return self._tokens.get(key)

    def save(self, key: str, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens[key] = tokens
            self.saves += 1
            self.needs_reauth.pop(key, None)

    def mark_needs_reauth(self, key: str, reason: str) -> None:
        with self._lock:
            self.needs_reauth[key] = reason

    def reauth_reason(self, key: str) -> str | None:
        with self._lock:
            return self.needs_reauth.get(key)


class RedisTokenStore:
    """Tokens in Redis, encrypted when a cipher is given (shared by every process).

    The production store is the database's; this one serves tests, the sandbox and small
    deployments. Unencrypted use is refused by the CLI outside the sandbox, not here.
    """

    def __init__(
        self, client: redis.Redis, cipher: TokenCipher | None, *, prefix: str = "xerosync:tokens"
    ) -> None:
        self.redis = client
        self.cipher = cipher
        self.prefix = prefix

    def load(self, key: str) -> TokenSet | None:
        raw = self.redis.get(f"{self.prefix}:{key}")
        if raw is None:
            return None
        blob = raw if isinstance(raw, bytes) else str(raw).encode()
        data = self.cipher.decrypt(blob) if self.cipher else blob
        return TokenSet.from_dict(codec.loads(data))

    def save(self, key: str, tokens: TokenSet) -> None:
        data = codec.dumps(tokens.to_dict()).encode()
        self.redis.set(f"{self.prefix}:{key}", self.cipher.encrypt(data) if self.cipher else data)
        self.redis.delete(f"{self.prefix}:{key}:reauth")

    def mark_needs_reauth(self, key: str, reason: str) -> None:
        self.redis.set(f"{self.prefix}:{key}:reauth", reason)

    def reauth_reason(self, key: str) -> str | None:
        return self.needs_reauth(key)

    def needs_reauth(self, key: str) -> str | None:
        raw = self.redis.get(f"{self.prefix}:{key}:reauth")
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_env_lock = threading.Lock()


@contextmanager
def _http_allowed_for_loopback(url: str) -> Iterator[None]:
    """oauthlib refuses http URLs; the local sandbox is http on a loopback address."""
    host = urlsplit(url).hostname or ""
    if urlsplit(url).scheme != "http" or not (host in _LOOPBACK or host.startswith("127.")):
        yield
        return
    with _env_lock:
        previous = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
            else:
                os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = previous


@dataclass(frozen=True)
class Connection:
    """One organisation an access token can reach (from `GET /connections`)."""

    id: str
    tenant_id: str
    tenant_type: str
    tenant_name: str | None
    created: Any = None
    updated: Any = None
    auth_event_id: str | None = None

    @property
    def reconnected(self) -> bool:
        """Xero: updated ≠ created means the tenant was disconnected and connected again."""
        return (
            self.created is not None and self.updated is not None and self.created != self.updated
        )


@dataclass
class IdentityClient:
    """Xero's identity endpoints: authorize URL, token exchange/refresh, connections.

    `token_url` is `<XERO_IDENTITY_URL>/connect/token`, `authorize_url` is
    `<XERO_LOGIN_URL>/identity/connect/authorize`, `connections_url` is
    `<XERO_BASE_URL>/connections`. Use `IdentityClient.for_urls` to build them.
    """

    client_id: str
    client_secret: str = field(repr=False)
    token_url: str
    authorize_url: str
    connections_url: str
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)
    clock: Callable[[], float] = time.time

    @classmethod
    def for_urls(
        cls,
        *,
        client_id: str,
        client_secret: str,
        identity_url: str,
        login_url: str,
        base_url: str,
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> IdentityClient:
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            token_url=f"{identity_url.rstrip('/')}/connect/token",
            authorize_url=f"{login_url.rstrip('/')}/identity/connect/authorize",
            connections_url=f"{base_url.rstrip('/')}/connections",
            timeout=timeout,
            session=session or requests.Session(),
        )

    # -- authorization-code flow ---------------------------------------------------------
    def authorization_url(
        self,
        redirect_uri: str,
        scopes: tuple[str, ...] | list[str] | str = DEFAULT_SCOPES,
        state: str | None = None,
    ) -> tuple[str, str]:
        """(url to open, state to check on the redirect). `offline_access` is always asked."""
        scope_list = scopes.split() if isinstance(scopes, str) else list(scopes)
        if "offline_access" not in scope_list:
            scope_list.append("offline_access")
        oauth = OAuth2Session(
            self.client_id,
            redirect_uri=redirect_uri,
            scope=scope_list,
            state=state or secrets.token_urlsafe(24),
        )
        with _http_allowed_for_loopback(self.authorize_url):
            url, used_state = oauth.authorization_url(self.authorize_url)
        return url, used_state

    @staticmethod
    def code_from_redirect(redirect_url: str, expected_state: str) -> str:
        """The authorization code from the redirect URL, after checking `state`."""
        query = parse_qs(urlsplit(redirect_url).query)
        if "error" in query:
            raise AuthenticationError(
                f"authorisation refused: {query['error'][0]}", retryable=False
            )
        state = (query.get("state") or [""])[0]
        if not secrets.compare_digest(state, expected_state):
            raise AuthenticationError(
                "state mismatch on the redirect (possible CSRF)", retryable=False
            )
        code = (query.get("code") or [""])[0]
        if not code:
            raise AuthenticationError("redirect carries no authorization code", retryable=False)
        return code

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        return self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            grant="authorization_code",
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        """One refresh call. A new pair; the old refresh token enters its grace period."""
        return self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            grant="authorization_code",
        )

    def client_credentials(self, scopes: tuple[str, ...] | list[str] | str = ()) -> TokenSet:
        """A custom connection's token (no refresh token: fetch a new one when it expires)."""
        scope = scopes if isinstance(scopes, str) else " ".join(scopes)
        data = {"grant_type": "client_credentials"}
        if scope:
            data["scope"] = scope
        return self._token_request(data, grant="client_credentials")

    def _token_request(self, data: dict[str, str], *, grant: str) -> TokenSet:
        path = urlsplit(self.token_url).path
        try:
            response = self.session.post(
                self.token_url,
                data=data,
                auth=(self.client_id, self.client_secret),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise XeroTimeout(
                "token endpoint did not answer in time",
                may_have_applied=True,
                method="POST",
                path=path,
            ) from None
        except requests.RequestException as exc:
            raise TransportError(
                f"token endpoint unreachable ({type(exc).__name__})",
                may_have_applied=True,
                method="POST",
                path=path,
            ) from None
        if response.status_code != 200:
            raise error_from_response(
                response.status_code, response.text, response.headers, method="POST", path=path
            )
        try:
            body = codec.loads(response.content)
        except ValueError:
            raise ServerError(
                "token endpoint answered with something that is not JSON",
                status=200,
                method="POST",
                path=path,
            ) from None
        return TokenSet.from_response(body, now=self.clock(), grant=grant)

    # -- connections ----------------------------------------------------------------------
    def connections(self, access_token: str) -> list[Connection]:
        """The organisations this token may reach."""
        response = self._send("GET", self.connections_url, access_token)
        rows = codec.loads(response.content) if response.content else []
        return [
            Connection(
                id=str(row.get("id")),
                tenant_id=str(row.get("tenantId")),
                tenant_type=str(row.get("tenantType", "ORGANISATION")),
                tenant_name=row.get("tenantName"),
                created=codec.parse_datetime(row.get("createdDateUtc")),
                updated=codec.parse_datetime(row.get("updatedDateUtc")),
                auth_event_id=row.get("authEventId"),
            )
            for row in rows
            if isinstance(row, Mapping)
        ]

    def disconnect(self, access_token: str, connection_id: str) -> None:
        """Remove one organisation from the app (`DELETE /connections/{id}`)."""
        self._send("DELETE", f"{self.connections_url}/{connection_id}", access_token)

    def _send(self, method: str, url: str, access_token: str) -> requests.Response:
        path = urlsplit(url).path
        try:
            response = self.session.request(
                method,
                url,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except requests.Timeout:
            raise XeroTimeout("no answer in time", method=method, path=path) from None
        except requests.RequestException as exc:
            raise TransportError(
                f"unreachable ({type(exc).__name__})", method=method, path=path
            ) from None
        if response.status_code >= 300:
            raise error_from_response(
                response.status_code, response.text, response.headers, method=method, path=path
            )
        return response


class RefreshLock:
    """A Redis lock with a lease: released by its owner, or lapsing if the owner dies."""

    _RELEASE = (
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
        "else return 0 end"
    )

    def __init__(self, client: redis.Redis, key: str, lease_seconds: float) -> None:
        self.redis = client
        self.key = key
        self.lease_ms = max(1, int(lease_seconds * 1000))
        self.token = secrets.token_hex(16)
        self._release = client.register_script(self._RELEASE)

    def try_acquire(self) -> bool:
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.lease_ms))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.token])


class TokenManager:
    """Hands out a valid access token for one connection, refreshing safely when needed.

    `refresh_margin`: refresh this many seconds before expiry. `lock_wait`: how long a process
    waits for another's refresh before giving up with `TokenRefreshBusy` (retryable).
    `refresh_attempts`: tries with the same refresh token when the response is lost.
    """

    def __init__(
        self,
        *,
        key: str,
        store: TokenStore,
        identity: IdentityClient,
        redis_client: redis.Redis,
        refresh_margin: float = 120.0,
        lock_lease: float | None = None,
        lock_wait: float = 15.0,
        refresh_attempts: int = 3,
        scopes: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
        lock_prefix: str = "xerosync:token-lock",
    ) -> None:
        self.key = key
        self.store = store
        self.identity = identity
        self.redis = redis_client
        self.refresh_margin = refresh_margin
        self.refresh_attempts = max(1, refresh_attempts)
        self.lock_lease = lock_lease or identity.timeout * self.refresh_attempts + 10
        self.lock_wait = lock_wait
        self.scopes = scopes
        self.clock = clock
        self.lock_key = f"{lock_prefix}:{key}"
        self._cached: TokenSet | None = None
        self._local = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenManager(key={self.key!r})"

    def _fresh(self, tokens: TokenSet | None) -> bool:
        if tokens is None:
            return False
        margin = self.refresh_margin
        if tokens.obtained_at is not None:  # short-lived tokens: refresh at half their life
            margin = min(margin, (tokens.expires_at - tokens.obtained_at) / 2)
        return not tokens.expires_within(margin, self.clock())

    def _refuse_if_marked(self) -> None:
        """A connection marked for re-authorisation (by any process) makes no call at all:
        neither with a token Xero will refuse nor a refresh it will refuse again."""
        reason = self.store.reauth_reason(self.key)
        if reason is not None:
            self._cached = None
            raise ReauthorizationRequired(f"{reason}; connect the organisation again")

    def access_token(self) -> str:
        """A valid access token, refreshing first if it expires within the margin."""
        self._refuse_if_marked()
        cached = self._cached
        if self._fresh(cached):
            assert cached is not None
            return cached.access_token
        tokens = self.store.load(self.key)
        if self._fresh(tokens):
            assert tokens is not None
            self._cached = tokens
            return tokens.access_token
        return self._refresh(rejected=None).access_token

    def after_unauthorized(self, rejected_access_token: str) -> str:
        """Xero answered 401 for this token: get a different valid one (refresh at most once)."""
        return self._refresh(rejected=rejected_access_token).access_token

    def _needs_refresh(self, tokens: TokenSet | None, rejected: str | None) -> bool:
        if tokens is None:
            return True
        if rejected is not None and tokens.access_token == rejected:
            return True
        return not self._fresh(tokens)

    def _refresh(self, rejected: str | None) -> TokenSet:
        # Threads of one process queue here, so only one of them contends for the Redis lock.
        with self._local:
            tokens = self.store.load(self.key)
            if not self._needs_refresh(tokens, rejected):
                assert tokens is not None
                self._cached = tokens
                return tokens
            deadline = time.monotonic() + self.lock_wait
            lock = RefreshLock(self.redis, self.lock_key, self.lock_lease)
            delay = 0.02
            while not lock.try_acquire():
                if time.monotonic() >= deadline:
                    raise TokenRefreshBusy(
                        f"another process has been refreshing {self.key}'s token for over "
                        f"{self.lock_wait:g}s"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
                tokens = self.store.load(self.key)
                if not self._needs_refresh(tokens, rejected):
                    assert tokens is not None
                    self._cached = tokens
                    return tokens
            try:
                self._refuse_if_marked()
                tokens = self.store.load(self.key)  # re-read under the lock
                if not self._needs_refresh(tokens, rejected):
                    assert tokens is not None
                    self._cached = tokens
                    return tokens
                try:
                    fresh = self._obtain(tokens)
                except (TransportError, ServerError):
                    # Refreshing early failed, but the token we have still works for now.
                    if (
                        rejected is None
                        and tokens is not None
                        and tokens.expires_at > (self.clock() + 5)
                    ):
                        return tokens
                    raise
                self.store.save(self.key, fresh)
                self._cached = fresh
                return fresh
            finally:
                lock.release()

    def _obtain(self, current: TokenSet | None) -> TokenSet:
        fresh = self._obtain_new(current)
        if not fresh.scope and current is not None and current.scope:
            # RFC 6749 §5.1: a token response without `scope` granted what was granted
            # before; keep it, so what the connection holds stays known.
            fresh = replace(fresh, scope=current.scope)
        return fresh

    def _obtain_new(self, current: TokenSet | None) -> TokenSet:
        if current is not None and current.grant == "client_credentials":
            return self.identity.client_credentials(current.scope or self.scopes)
        if current is None or current.refresh_token is None:
            reason = "no refreshable tokens stored for this connection"
            self.store.mark_needs_reauth(self.key, reason)
            raise ReauthorizationRequired(f"{reason}; connect the organisation again")
        last: XeroError | None = None
        for attempt in range(1, self.refresh_attempts + 1):
            try:
                return self.identity.refresh(current.refresh_token)
            except ReauthorizationRequired as exc:
                self.store.mark_needs_reauth(
                    self.key, "Xero refused the refresh token (invalid_grant); connect again"
                )
                raise exc
            except (TransportError, ServerError) as exc:
                # Possibly applied by Xero with the answer lost: the same refresh token stays
                # valid for the grace period, so trying again with it is the right move.
                last = exc
                log.warning(
                    "token refresh attempt %d for %s failed: %s",
                    attempt,
                    self.key,
                    type(exc).__name__,
                )
                if attempt < self.refresh_attempts:
                    time.sleep(min(0.2 * attempt, 1.0))
        assert last is not None
        raise last

    def invalidate(self) -> None:
        """Forget the process-local copy (e.g. after tokens were replaced elsewhere)."""
        self._cached = None
