"""Xero's identity service: authorization codes, access tokens and rotating refresh tokens.

Access tokens are opaque to the client but shaped like Xero's (a JWT with `exp`, `client_id`,
`authentication_event_id`, `scope`). Refresh tokens rotate on every use; the previous one stays
usable for `refresh_grace_seconds` (Xero's answer to a lost refresh response), after which it
gets `invalid_grant`. client_credentials tokens are "custom connections": one organisation,
no refresh token, no `xero-tenant-id` needed.

Scopes: the sandbox's own copy of Xero's scope table (xerosync's client has another, in
`xerosync.xero.scopes`; two copies keep the tests from checking xerosync against itself).
A new app (`SandboxConfig.app_created` on or after 2026-03-02) is refused the deprecated
broad scopes; unknown scopes are refused; every Accounting call needs its endpoint's scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field

from xerosync.sandbox.config import SandboxConfig
from xerosync.sandbox.errors import ApiError, oauth_error

_SIGNING_KEY = b"xerosync-sandbox"

# -- the scope table ----------------------------------------------------------------------------

IDENTITY_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRANULAR_SCOPES = frozenset(
    {
        "accounting.contacts",
        "accounting.settings",
        "accounting.invoices",
        "accounting.payments",
        "accounting.banktransactions",
        "accounting.manualjournals",
        "accounting.attachments",
    }
)
"""Granular scopes with a read-write form; each also has an `X.read` form."""
READ_ONLY_SCOPES = frozenset({"accounting.journals.read", "accounting.budgets.read"})
BROAD_SCOPES = {
    "accounting.transactions": "accounting.invoices",
    "accounting.transactions.read": "accounting.invoices.read",
    "accounting.reports.read": "the accounting.reports.*.read scopes",
}
"""Deprecated broad scope → what a new app asks for instead (in the refusal's description)."""

_TRANSACTIONS = ("accounting.transactions",)
ENDPOINT_SCOPES: dict[str, tuple[str, ...]] = {
    "contacts": ("accounting.contacts",),
    "items": ("accounting.settings", "accounting.invoices"),
    "invoices": ("accounting.invoices", *_TRANSACTIONS),
    "creditnotes": ("accounting.invoices", *_TRANSACTIONS),
    "organisation": ("accounting.settings",),
    "organisations": ("accounting.settings",),
    "accounts": ("accounting.settings",),
    "taxrates": ("accounting.settings",),
    "currencies": ("accounting.settings",),
    "brandingthemes": ("accounting.settings",),
    "trackingcategories": ("accounting.settings",),
}
"""Accounting resource (lower case) → scopes that grant it (write form; a GET also accepts
each one's `.read`). `accounting.transactions` only ever reaches a grant of an older app."""


class ScopeRefused(Exception):
    """`invalid_scope`: a requested scope is unknown, or not available to this app."""

    def __init__(self, scope: str, description: str) -> None:
        super().__init__(description)
        self.scope = scope
        self.description = description


def known_scope(scope: str) -> bool:
    if scope in IDENTITY_SCOPES or scope in READ_ONLY_SCOPES or scope in BROAD_SCOPES:
        return True
    return scope.removesuffix(".read") in GRANULAR_SCOPES


def check_scopes(requested: str, config: SandboxConfig) -> str:
    """The scopes to grant for a request (order kept, repeats dropped), or `ScopeRefused`
    for the first one that is unknown or, for a new app, deprecated."""
    scopes = list(dict.fromkeys(requested.split()))
    for scope in scopes:
        if not known_scope(scope):
            raise ScopeRefused(scope, f"The scope {scope} is not a known Xero scope.")
        if scope in BROAD_SCOPES and config.new_app:
            raise ScopeRefused(
                scope,
                f"The scope {scope} is not available to apps created on or after "
                f"2 March 2026; ask for {BROAD_SCOPES[scope]} instead.",
            )
    return " ".join(scopes)


def scope_allows(granted: str, method: str, resource: str) -> bool:
    """Whether a grant holding `granted` may call `method` on an Accounting `resource`
    (True for resources not in the table: the router answers those)."""
    needs = ENDPOINT_SCOPES.get(resource.lower())
    if needs is None:
        return True
    accepted = set(needs)
    if method.upper() in ("GET", "HEAD"):
        accepted |= {f"{n}.read" for n in needs}
    return not accepted.isdisjoint(granted.split())


@dataclass
class Grant:
    """One authorisation (an `authEventId`): the app, the scopes and the connected tenants."""

    auth_event_id: str
    client_id: str
    scope: str
    tenant_ids: list[str]
    custom: bool = False
    connection_ids: dict[str, str] = field(default_factory=dict)
    connected_at: dict[str, float] = field(default_factory=dict)


@dataclass
class AccessToken:
    grant_id: str
    expires_at: float


@dataclass
class RefreshToken:
    grant_id: str
    issued_at: float
    rotated_at: float | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    grant_id: str
    redirect_uri: str
    expires_at: float
    code_challenge: str | None = None
    used: bool = False


class Identity:
    """All identity state; callers hold the sandbox lock."""

    def __init__(self) -> None:
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthCode] = {}

    # -- clients ---------------------------------------------------------------------------
    @staticmethod
    def check_client(config: SandboxConfig, client_id: str, secret: str | None) -> None:
        """Any client is accepted unless the config pins an id and secret."""
        if not client_id:
            raise oauth_error("invalid_client")
        if config.client_id is not None and client_id != config.client_id:
            raise oauth_error("invalid_client")
        if (
            config.client_secret is not None
            and secret is not None
            and (secret != config.client_secret)
        ):
            raise oauth_error("invalid_client")

    # -- authorize ------------------------------------------------------------------------
    def authorize(
        self,
        client_id: str,
        redirect_uri: str,
        scope: str,
        tenant_ids: list[str],
        now: float,
        config: SandboxConfig,
        code_challenge: str | None = None,
    ) -> str:
        """The user approves at once: a grant for every tenant, and a one-time code.
        `ScopeRefused` (nothing granted) for an unknown scope, or a broad one on a new app."""
        scope = check_scopes(scope, config)
        grant = Grant(str(uuid.uuid4()), client_id, scope, list(tenant_ids))
        for tenant_id in tenant_ids:
            grant.connection_ids[tenant_id] = str(uuid.uuid4())
            grant.connected_at[tenant_id] = now
        self.grants[grant.auth_event_id] = grant
        code = secrets.token_urlsafe(24)
        self.codes[code] = AuthCode(
            grant.auth_event_id, redirect_uri, now + config.auth_code_seconds, code_challenge
        )
        return code

    # -- token endpoint -------------------------------------------------------------------
    def exchange_code(
        self,
        code: str,
        redirect_uri: str,
        client_id: str,
        verifier: str | None,
        secret_given: bool,
        now: float,
        config: SandboxConfig,
    ) -> dict[str, object]:
        entry = self.codes.get(code)
        if entry is None or entry.used or entry.expires_at <= now:
            raise oauth_error("invalid_grant")
        grant = self.grants[entry.grant_id]
        if grant.client_id != client_id or (redirect_uri and redirect_uri != entry.redirect_uri):
            raise oauth_error("invalid_grant")
        if entry.code_challenge is not None:
            digest = hashlib.sha256((verifier or "").encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if expected != entry.code_challenge:
                raise oauth_error("invalid_grant")
        elif not secret_given:
            raise oauth_error("invalid_client")
        entry.used = True
        return self._issue(grant, now, config, with_refresh="offline_access" in grant.scope.split())

    def refresh(
        self, token: str, client_id: str, now: float, config: SandboxConfig
    ) -> dict[str, object]:
        entry = self.refresh_tokens.get(token)
        if entry is None or entry.revoked:
            raise oauth_error("invalid_grant")
        grant = self.grants.get(entry.grant_id)
        if grant is None or grant.client_id != client_id:
            raise oauth_error("invalid_grant")
        if entry.rotated_at is not None and now >= entry.rotated_at + config.refresh_grace_seconds:
            raise oauth_error("invalid_grant")
        if now >= entry.issued_at + config.refresh_token_days * 86400:
            raise oauth_error("invalid_grant")
        if entry.rotated_at is None:
            entry.rotated_at = now
        return self._issue(grant, now, config, with_refresh=True)

    def client_credentials(
        self, client_id: str, tenant_id: str, scope: str, now: float, config: SandboxConfig
    ) -> dict[str, object]:
        """A custom connection's token. It holds the requested scopes if all are among
        `config.custom_connection_scopes` (a `.read` form counts as its scope), else every
        configured one when none is asked; identity scopes (openid, offline_access, …) mean
        nothing here and are ignored. Anything else: `invalid_scope`."""
        allowed = check_scopes(config.custom_connection_scopes, config).split()
        wanted = [s for s in dict.fromkeys(scope.split()) if s not in IDENTITY_SCOPES]
        for item in wanted:
            if item not in allowed and item.removesuffix(".read") not in allowed:
                check_scopes(item, config)  # unknown or deprecated: say so
                raise ScopeRefused(
                    item, f"The scope {item} is not configured for this custom connection."
                )
        scope = " ".join(wanted) if wanted else " ".join(allowed)
        grant = Grant(str(uuid.uuid4()), client_id, scope, [tenant_id], custom=True)
        grant.connection_ids[tenant_id] = str(uuid.uuid4())
        grant.connected_at[tenant_id] = now
        self.grants[grant.auth_event_id] = grant
        return self._issue(grant, now, config, with_refresh=False)

    def revoke(self, token: str) -> None:
        entry = self.refresh_tokens.get(token)
        if entry is not None:
            entry.revoked = True
            grant_id = entry.grant_id
            for access in self.access_tokens.values():
                if access.grant_id == grant_id:
                    access.expires_at = 0.0

    def _issue(
        self, grant: Grant, now: float, config: SandboxConfig, *, with_refresh: bool
    ) -> dict[str, object]:
        expires_at = now + config.access_token_seconds
        access = _jwt(
            {
                "nbf": int(now),
                "exp": int(expires_at),
                "iss": "https://identity.xero.com",
                "aud": "https://identity.xero.com/resources",
                "client_id": grant.client_id,
                "authentication_event_id": grant.auth_event_id,
                "jti": secrets.token_hex(16),
                "scope": grant.scope.split(),
            }
        )
        self.access_tokens[access] = AccessToken(grant.auth_event_id, expires_at)
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": config.access_token_seconds,
            "token_type": "Bearer",
            "scope": grant.scope,
        }
        if "openid" in grant.scope.split():
            body["id_token"] = _jwt(
                {"exp": int(expires_at), "aud": grant.client_id, "sub": grant.auth_event_id}
            )
        if with_refresh:
            refresh = secrets.token_hex(32)
            self.refresh_tokens[refresh] = RefreshToken(grant.auth_event_id, now)
            body["refresh_token"] = refresh
        return body

    # -- resource side --------------------------------------------------------------------
    def authenticate(self, header: str, now: float) -> Grant:
        """The grant behind a `Bearer` header, or Xero's 401."""
        from xerosync.sandbox.errors import unauthorized

        if not header.startswith("Bearer "):
            raise unauthorized()
        entry = self.access_tokens.get(header[len("Bearer ") :].strip())
        if entry is None:
            raise unauthorized()
        if entry.expires_at <= now:
            from datetime import UTC, datetime

            when = datetime.fromtimestamp(entry.expires_at, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise unauthorized(f"TokenExpired: token expired at {when}")
        grant = self.grants.get(entry.grant_id)
        if grant is None:
            raise unauthorized()
        return grant

    def expire_all(self) -> int:
        for entry in self.access_tokens.values():
            entry.expires_at = 0.0
        return len(self.access_tokens)

    def disconnect(self, grant: Grant, connection_id: str) -> bool:
        for tenant_id, conn_id in list(grant.connection_ids.items()):
            if conn_id == connection_id:
                grant.tenant_ids.remove(tenant_id)
                del grant.connection_ids[tenant_id]
                return True
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(payload: dict[str, object]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = hmac.new(_SIGNING_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def parse_basic(header: str) -> tuple[str, str] | None:
    """(client_id, secret) from an `Authorization: Basic` header."""
    if not header.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(header[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = raw.partition(":")
    return client_id, secret


__all__ = [
    "AccessToken",
    "ApiError",
    "Grant",
    "Identity",
    "RefreshToken",
    "ScopeRefused",
    "check_scopes",
    "parse_basic",
    "scope_allows",
]
