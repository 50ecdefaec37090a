"""xerosync's scope table: defaults, deprecated broad scopes, what a connection holds, and the
words for Xero's refusals (at consent, at the token endpoint, and a call's 403)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import redis
import requests

from tests.fixtures.sandbox import Sandbox
from tests.xero.fakes import FakeIdentity
from tests.xero.support import identity_for
from xerosync.connections import seal
from xerosync.settings import load_settings
from xerosync.sync.retry import Action, decide
from xerosync.xero import scopes
from xerosync.xero.auth import DEFAULT_SCOPES, MemoryTokenStore, TokenManager, TokenSet
from xerosync.xero.client import XeroClient
from xerosync.xero.crypto import TokenCipher
from xerosync.xero.errors import AuthenticationError, PermissionDenied, error_from_response

FORBIDDEN = json.dumps(
    {
        "Type": None,
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
        "Instance": "6f1c1f0e-8a47-4bd7-9d4c-0c8d8f3f6c11",
        "Extensions": {},
    }
)
OLD_DEFAULT = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.transactions"
)


# -- defaults ----------------------------------------------------------------------------------


def test_the_defaults_are_granular_and_cover_exactly_what_xerosync_uses() -> None:
    expected = (
        "openid profile email offline_access accounting.contacts accounting.settings "
        "accounting.invoices"
    )
    assert " ".join(DEFAULT_SCOPES) == expected
    configured = load_settings({}, env_file=None).as_dict()["XERO_SCOPES"]
    assert configured == expected
    assert scopes.deprecated_scopes(DEFAULT_SCOPES) == []
    for method, path in [
        ("GET", "Contacts"),
        ("POST", "Contacts"),
        ("GET", "Items"),
        ("POST", "Items"),
        ("GET", "Invoices"),
        ("PUT", "Invoices"),
        ("POST", "Invoices/abc"),
        ("GET", "CreditNotes"),
        ("GET", "Organisation"),
        ("GET", "TaxRates"),
        ("GET", "Accounts"),
        ("GET", "Currencies"),
        ("GET", "BrandingThemes"),
        ("GET", "TrackingCategories"),
    ]:
        assert scopes.allows(DEFAULT_SCOPES, method, f"/api.xro/2.0/{path}"), (method, path)
    # nothing broader: without any one of the three organisation scopes, something fails
    for scope in ("accounting.contacts", "accounting.settings", "accounting.invoices"):
        fewer = [s for s in DEFAULT_SCOPES if s != scope]
        assert not all(
            scopes.allows(fewer, "PUT", f"/api.xro/2.0/{r}")
            for r in ("Contacts", "Invoices", "Organisation")
        )


def test_gets_accept_read_scopes_writes_need_the_full_one() -> None:
    assert scopes.allows(["accounting.invoices.read"], "GET", "/api.xro/2.0/Invoices")
    assert not scopes.allows(["accounting.invoices.read"], "PUT", "/api.xro/2.0/Invoices")
    assert scopes.allows(["accounting.transactions"], "PUT", "/api.xro/2.0/CreditNotes")
    assert scopes.allows(["accounting.transactions.read"], "GET", "/api.xro/2.0/Invoices")
    assert scopes.allows(["accounting.invoices"], "POST", "/api.xro/2.0/Items")
    assert scopes.allows(["accounting.settings.read"], "GET", "Items")
    assert not scopes.allows(["accounting.contacts"], "GET", "/api.xro/2.0/Items")
    assert not scopes.allows(["accounting.transactions"], "GET", "/api.xro/2.0/Organisation")
    assert scopes.allows([], "GET", "/connections")  # not an Accounting endpoint


@pytest.mark.parametrize(
    ("scope", "replacement"),
    [
        ("accounting.transactions", "accounting.invoices"),
        ("accounting.transactions.read", "accounting.invoices.read"),
        ("accounting.reports.read", ""),
    ],
)
def test_deprecated_scopes_are_named_with_their_replacement(scope: str, replacement: str) -> None:
    assert scopes.deprecated_scopes(f"openid {scope} accounting.contacts") == [
        (scope, replacement)
    ]
    warning = scopes.deprecation_warning(f"openid {scope}")
    assert warning is not None and "\n" not in warning
    assert scope in warning and "XERO_SCOPES" in warning and "2 March 2026" in warning
    assert (replacement or "remove it") in warning


def test_the_start_up_check_warns_for_a_deprecated_scope(caplog: pytest.LogCaptureFixture) -> None:
    from xerosync.settings import warn_about_settings

    with caplog.at_level("WARNING"):
        assert warn_about_settings(load_settings({}, env_file=None)) == []
        [line] = warn_about_settings(load_settings({"XERO_SCOPES": OLD_DEFAULT}, env_file=None))
    assert [r.getMessage() for r in caplog.records] == [line]
    assert "accounting.transactions (use accounting.invoices)" in line


# -- what a connection holds ----------------------------------------------------------------


def test_granted_scopes_from_tokens_responses_and_stored_rows() -> None:
    tokens = TokenSet(access_token="a", expires_at=1, scope=tuple(OLD_DEFAULT.split()))
    assert scopes.granted_scopes(tokens) == tuple(OLD_DEFAULT.split())
    assert scopes.granted_scopes({"scope": OLD_DEFAULT}) == tuple(OLD_DEFAULT.split())
    assert scopes.granted_scopes(tokens.to_dict()) == tuple(OLD_DEFAULT.split())
    cipher = TokenCipher(TokenCipher.generate_key())
    for used in (None, cipher):
        blob, encrypted = seal(tokens, used)
        row = SimpleNamespace(token_blob=blob, token_encrypted=encrypted)
        assert scopes.granted_scopes(row, used) == tuple(OLD_DEFAULT.split())
        assert scopes.deprecated_granted(row, used) == [
            ("accounting.transactions", "accounting.invoices")
        ]
    assert scopes.granted_scopes(SimpleNamespace(token_blob=None, token_encrypted=True)) == ()
    warning = scopes.grant_warning(tokens)
    assert warning is not None and "September 2027" in warning and "XERO_SCOPES" in warning
    assert scopes.grant_warning(TokenSet(access_token="a", expires_at=1)) is None


def test_a_refresh_answer_without_scope_keeps_what_was_granted(real_redis: redis.Redis) -> None:
    identity = FakeIdentity()  # its refresh answers carry no scope
    identity.valid_refresh.add("r0")
    store = MemoryTokenStore()
    granted = ("offline_access", "accounting.contacts")
    store.save(
        "t", TokenSet(access_token="a0", refresh_token="r0", expires_at=0, scope=granted)
    )
    manager = TokenManager(
        key="t",
        store=store,
        identity=identity,
        redis_client=real_redis,
        clock=lambda: identity.clock_now,
    )
    assert manager.access_token() == "a1"
    stored = store.load("t")
    assert stored is not None and stored.scope == granted


# -- refusals in words ----------------------------------------------------------------------


def test_a_403_on_an_accounting_call_names_the_scope_and_the_setting() -> None:
    error = error_from_response(403, FORBIDDEN, {}, method="GET", path="/api.xro/2.0/Invoices")
    assert isinstance(error, PermissionDenied) and not error.retryable
    assert error.needed_scope == "accounting.invoices"
    text = str(error)
    assert "AuthenticationUnsuccessful" in text and "accounting.invoices" in text
    assert "XERO_SCOPES" in text and "xerosync connect" in text and "\n" not in text
    # recorded on the link, never retried
    assert decide(error, 1, max_countdown=3600).action is Action.FAIL
    items = error_from_response(403, FORBIDDEN, {}, method="PUT", path="/api.xro/2.0/Items")
    assert "accounting.settings or accounting.invoices" in str(items)
    other = error_from_response(403, FORBIDDEN, {}, method="GET", path="/connections")
    assert isinstance(other, PermissionDenied) and "XERO_SCOPES" not in str(other)


def test_invalid_scope_at_consent_names_scope_setting_and_replacement() -> None:
    line = scopes.refusal_message("invalid_scope", None, OLD_DEFAULT)
    assert "\n" not in line and line.startswith("Xero refused the scope accounting.transactions")
    assert "XERO_SCOPES" in line and "accounting.invoices" in line
    unknown = scopes.refusal_message(
        "invalid_scope", "accounting.everything is unknown", "openid accounting.everything"
    )
    assert "accounting.everything" in unknown and "remove accounting.everything" in unknown
    assert scopes.refusal_message("access_denied", None, OLD_DEFAULT).startswith(
        "Xero refused the authorisation (access_denied)"
    )


def test_invalid_scope_at_the_token_endpoint_names_the_setting() -> None:
    body = json.dumps({"error": "invalid_scope", "error_description": "nope"})
    error = error_from_response(400, body, {}, method="POST", path="/connect/token")
    assert isinstance(error, AuthenticationError) and not error.retryable
    assert "invalid_scope" in str(error) and "XERO_SCOPES" in str(error)


# -- against the sandbox ----------------------------------------------------------------------


@pytest.mark.integration
def test_a_token_without_accounting_invoices_gets_xeros_403_and_words(
    sandbox: Sandbox, real_redis: redis.Redis
) -> None:
    identity = identity_for(sandbox.url)
    redirect = "http://localhost:8766/callback"
    url, state = identity.authorization_url(
        redirect, ["openid", "offline_access", "accounting.contacts", "accounting.settings"]
    )
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    tokens = identity.exchange_code(identity.code_from_redirect(location, state), redirect)
    assert "accounting.invoices" not in scopes.granted_scopes(tokens)
    store = MemoryTokenStore()
    store.save(sandbox.tenant_id, tokens)
    xero = XeroClient(
        api_url=sandbox.api_url,
        tenant_id=sandbox.tenant_id,
        tokens=TokenManager(
            key=sandbox.tenant_id, store=store, identity=identity, redis_client=real_redis
        ),
        budget=None,
        timeout=5,
    )
    with pytest.raises(PermissionDenied) as info:
        xero.get_all("Invoices")
    error = info.value
    assert error.status == 403 and error.body["Detail"] == "AuthenticationUnsuccessful"
    assert error.body["Title"] == "Forbidden" and error.body["Type"] is None
    assert error.needed_scope == "accounting.invoices"
    assert "accounting.invoices" in str(error) and "XERO_SCOPES" in str(error)
    assert xero.get_all("Contacts")  # what the connection holds still works
    assert [r["status"] for r in sandbox.control.requests(path="/api.xro/2.0/Invoices")] == [403]
