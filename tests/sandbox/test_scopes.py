"""Scopes as Xero has them since 2 March 2026 (XERO_FACTS §3, §7), through Xero's own SDK.

A new app (the sandbox's default) may ask only for granular scopes; an older app may still ask
for the deprecated broad ones. Every Accounting endpoint checks its scope: a GET accepts `X` or
`X.read`, a write needs `X`, and a refusal is Xero's 403 problem body, naming no scope.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from xero_python.accounting import (
    AccountingApi,
    Contact,
    Contacts,
    CreditNote,
    CreditNotes,
    Invoice,
    Invoices,
    Item,
    Items,
    LineItem,
)
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import ApiException
from xero_python.identity import IdentityApi

from tests.fixtures.sandbox import Sandbox
from xerosync.sandbox.control import DEFAULT_SCOPES, Tokens

pytestmark = pytest.mark.integration

GRANULAR = DEFAULT_SCOPES
BROAD = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.transactions"
)
OLDER_APP = "2025-06-01"
REDIRECT = "http://localhost:1/cb"


# -- helpers ---------------------------------------------------------------------------------


def authorize_redirect(sandbox: Sandbox, scope: str, state: str = "s-7") -> dict[str, list[str]]:
    """The query of the authorize redirect (what the browser would bring back)."""
    response = requests.get(
        sandbox.url + "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": "sandbox-client",
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": state,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


def sdk_client(sandbox: Sandbox, token: dict[str, Any]) -> ApiClient:
    stored: dict[str, Any] = {**token, "expires_at": time.time() + int(token["expires_in"])}
    client = ApiClient(
        Configuration(
            oauth2_token=OAuth2Token(client_id="sandbox-client", client_secret="sandbox-secret")
        ),
        pool_threads=1,
    )

    @client.oauth2_token_getter
    def get_token() -> dict[str, Any]:
        return stored

    @client.oauth2_token_saver
    def save_token(new: dict[str, Any]) -> None:
        stored.update(new)

    return client


def sdk_for(sandbox: Sandbox, tokens: Tokens) -> AccountingApi:
    return AccountingApi(sdk_client(sandbox, tokens.raw), base_url=sandbox.api_url)


def refused(call: Callable[[], object]) -> dict[str, Any]:
    """Run an SDK call that must get Xero's 403; its problem body."""
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 403
    body: dict[str, Any] = json.loads(info.value.body)
    assert set(body) == {"Type", "Title", "Status", "Detail", "Instance", "Extensions"}
    assert body["Type"] is None and body["Title"] == "Forbidden" and body["Status"] == 403
    assert body["Detail"] == "AuthenticationUnsuccessful" and body["Extensions"] == {}
    uuid.UUID(body["Instance"])
    return body


def jwt_scopes(access_token: str) -> list[str]:
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims["scope"])


def draft_invoice() -> Invoices:
    return Invoices(
        invoices=[
            Invoice(
                type="ACCREC",
                contact=Contact(name="Scope Test Customer"),
                status="DRAFT",
                line_items=[
                    LineItem(
                        description="Consulting",
                        quantity=1.0,
                        unit_amount=100.0,
                        account_code="200",
                        tax_type="OUTPUT",
                    )
                ],
            )
        ]
    )


def draft_credit_note() -> CreditNotes:
    return CreditNotes(
        credit_notes=[
            CreditNote(
                type="ACCRECCREDIT",
                contact=Contact(name="Scope Test Customer"),
                status="DRAFT",
                line_items=[
                    LineItem(
                        description="Refund",
                        quantity=1.0,
                        unit_amount=10.0,
                        account_code="200",
                        tax_type="OUTPUT",
                    )
                ],
            )
        ]
    )


def settings_reads(sdk: AccountingApi, tenant: str) -> list[Callable[[], object]]:
    return [
        lambda: sdk.get_organisations(tenant),
        lambda: sdk.get_accounts(tenant),
        lambda: sdk.get_tax_rates(tenant),
        lambda: sdk.get_currencies(tenant),
        lambda: sdk.get_branding_themes(tenant),
        lambda: sdk.get_tracking_categories(tenant),
    ]


# -- consent ---------------------------------------------------------------------------------


def test_a_new_app_gets_exactly_the_granular_scopes_it_asks_for(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(scope=GRANULAR)
    assert tokens.raw["scope"] == GRANULAR
    assert jwt_scopes(tokens.access_token) == GRANULAR.split()
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    assert sdk.get_contacts(tenant, page=1).contacts
    assert sdk.get_items(tenant).items
    assert sdk.get_invoices(tenant, page=1).invoices
    assert sdk.get_credit_notes(tenant, page=1).credit_notes
    for read in settings_reads(sdk, tenant):
        read()
    made = sdk.create_contacts(tenant, Contacts(contacts=[Contact(name="Granular Co")]))
    assert made.contacts[0].contact_id
    assert sdk.create_items(tenant, Items(items=[Item(code="GRAN-1", name="Granular")])).items
    assert sdk.create_invoices(tenant, draft_invoice()).invoices[0].status == "DRAFT"
    assert sdk.create_credit_notes(tenant, draft_credit_note()).credit_notes[0].status == "DRAFT"


@pytest.mark.parametrize(
    ("scope", "instead"),
    [
        ("accounting.transactions", "accounting.invoices"),
        ("accounting.transactions.read", "accounting.invoices.read"),
        ("accounting.reports.read", "accounting.reports."),
    ],
)
def test_a_new_app_is_refused_a_deprecated_broad_scope_at_consent(
    sandbox: Sandbox, scope: str, instead: str
) -> None:
    query = authorize_redirect(sandbox, f"openid offline_access accounting.contacts {scope}")
    # The sandbox's choice (Xero's is unconfirmed): RFC 6749 §4.1.2.1's error redirect.
    assert query["error"] == ["invalid_scope"] and query["state"] == ["s-7"]
    assert "code" not in query
    [description] = query["error_description"]
    assert scope in description and "2 March 2026" in description and instead in description


def test_an_unknown_scope_is_refused_at_consent(sandbox: Sandbox) -> None:
    query = authorize_redirect(sandbox, "offline_access accounting.everything")
    assert query["error"] == ["invalid_scope"] and "code" not in query
    assert "accounting.everything" in query["error_description"][0]


def test_an_older_app_may_still_ask_for_accounting_transactions(sandbox: Sandbox) -> None:
    sandbox.control.config(app_created=OLDER_APP)
    tokens = sandbox.control.authorize(scope=BROAD)
    assert tokens.raw["scope"] == BROAD
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    assert sdk.get_invoices(tenant, page=1).invoices
    assert sdk.get_credit_notes(tenant, page=1).credit_notes
    assert sdk.create_invoices(tenant, draft_invoice()).invoices[0].status == "DRAFT"
    assert sdk.create_credit_notes(tenant, draft_credit_note()).credit_notes[0].status == "DRAFT"
    assert sdk.get_items(tenant).items  # Items: accounting.settings, as the spec has it
    # ... and the granular scopes too
    assert authorize_redirect(sandbox, GRANULAR).get("code")


def test_an_older_apps_transactions_read_reads_but_does_not_write(sandbox: Sandbox) -> None:
    sandbox.control.config(app_created=OLDER_APP)
    tokens = sandbox.control.authorize(scope="offline_access accounting.transactions.read")
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    assert sdk.get_invoices(tenant, page=1).invoices
    refused(lambda: sdk.create_invoices(tenant, draft_invoice()))


# -- every endpoint checks its scope -------------------------------------------------------------


def test_a_token_without_accounting_invoices_gets_xero_403_on_invoices(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(
        scope="openid offline_access accounting.contacts accounting.settings"
    )
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    refused(lambda: sdk.get_invoices(tenant, page=1))
    refused(lambda: sdk.get_credit_notes(tenant, page=1))
    before = len(sandbox.control.records("Invoices"))
    refused(lambda: sdk.create_invoices(tenant, draft_invoice()))
    assert len(sandbox.control.records("Invoices")) == before  # nothing written
    assert sdk.get_contacts(tenant, page=1).contacts  # what it holds still works
    assert sdk.get_items(tenant).items
    statuses = [r["status"] for r in sandbox.control.requests(path="/api.xro/2.0/Invoices")]
    assert statuses == [403, 403]  # refused once each: no retries hidden in the SDK


def test_read_scopes_allow_gets_and_refuse_writes(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(
        scope="offline_access accounting.contacts.read accounting.settings.read "
        "accounting.invoices.read"
    )
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    assert sdk.get_contacts(tenant, page=1).contacts
    assert sdk.get_items(tenant).items
    assert sdk.get_invoices(tenant, page=1).invoices
    for read in settings_reads(sdk, tenant):
        read()
    refused(lambda: sdk.create_contacts(tenant, Contacts(contacts=[Contact(name="Nope")])))
    refused(lambda: sdk.create_items(tenant, Items(items=[Item(code="NOPE", name="Nope")])))
    refused(lambda: sdk.create_invoices(tenant, draft_invoice()))
    refused(lambda: sdk.create_credit_notes(tenant, draft_credit_note()))


@pytest.mark.parametrize("scope", ["accounting.settings", "accounting.invoices"])
def test_items_need_accounting_settings_or_accounting_invoices(
    sandbox: Sandbox, scope: str
) -> None:
    tokens = sandbox.control.authorize(scope=f"offline_access {scope}")
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    assert sdk.get_items(tenant).items
    assert sdk.create_items(tenant, Items(items=[Item(code=f"I-{scope[11:15]}", name="x")])).items
    refused(lambda: sdk.get_contacts(tenant, page=1))


def test_items_without_either_scope_are_refused(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(scope="offline_access accounting.contacts")
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    refused(lambda: sdk.get_items(tenant))
    refused(lambda: sdk.create_items(tenant, Items(items=[Item(code="NOPE", name="Nope")])))
    assert sdk.get_contacts(tenant, page=1).contacts


def test_organisation_and_settings_lists_need_accounting_settings(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(
        scope="offline_access accounting.contacts accounting.invoices"
    )
    sdk, tenant = sdk_for(sandbox, tokens), sandbox.tenant_id
    for read in settings_reads(sdk, tenant):
        refused(read)
    assert sdk.get_items(tenant).items  # accounting.invoices covers Items


def test_refreshing_keeps_the_granted_scopes(sandbox: Sandbox, monkeypatch: Any) -> None:
    """Through the SDK's own refresh (which sends the `scope` it holds back)."""
    monkeypatch.setattr(TokenApi, "refresh_token_url", sandbox.url + "/connect/token")
    narrow = "openid offline_access accounting.contacts"
    tokens = sandbox.control.authorize(scope=narrow)
    client = sdk_client(sandbox, tokens.raw)
    refreshed = client.refresh_oauth2_token()
    assert refreshed["access_token"] != tokens.access_token
    assert refreshed["scope"] in (narrow, narrow.split())
    assert jwt_scopes(refreshed["access_token"]) == narrow.split()
    sdk, tenant = AccountingApi(client, base_url=sandbox.api_url), sandbox.tenant_id
    assert sdk.get_contacts(tenant, page=1).contacts
    refused(lambda: sdk.get_invoices(tenant, page=1))


def test_connections_need_no_accounting_scope(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize(scope="openid offline_access")
    identity = IdentityApi(sdk_client(sandbox, tokens.raw), base_url=sandbox.url)
    rows = identity.get_connections()
    assert [str(r.tenant_id) for r in rows] == [sandbox.tenant_id]


# -- custom connections ------------------------------------------------------------------------


def token_form(sandbox: Sandbox, scope: str | None) -> requests.Response:
    form = {"grant_type": "client_credentials"}
    if scope is not None:
        form["scope"] = scope
    return requests.post(
        sandbox.url + "/connect/token",
        data=form,
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )


def test_a_custom_connection_gets_its_configured_scopes(sandbox: Sandbox, monkeypatch: Any) -> None:
    """The SDK's client_credentials asks for no scope: it gets what the connection was set up
    with (`custom_connection_scopes`)."""
    monkeypatch.setattr(TokenApi, "client_credentials_token_url", sandbox.url + "/connect/token")
    client = ApiClient(
        Configuration(
            oauth2_token=OAuth2Token(client_id="sandbox-client", client_secret="sandbox-secret")
        ),
        pool_threads=1,
    )
    stored: dict[str, Any] = {}
    client.oauth2_token_getter(lambda: stored)
    client.oauth2_token_saver(lambda token: stored.update(token))
    token = client.get_client_credentials_token()
    assert token["scope"] in (
        "accounting.contacts accounting.settings accounting.invoices",
        ["accounting.contacts", "accounting.settings", "accounting.invoices"],
    )
    assert "refresh_token" not in stored or not stored["refresh_token"]
    sdk = AccountingApi(client, base_url=sandbox.api_url)
    assert sdk.get_invoices("", page=1).invoices  # a custom connection needs no tenant header


def test_a_custom_connection_may_ask_for_fewer_scopes(sandbox: Sandbox) -> None:
    response = token_form(sandbox, "openid offline_access accounting.contacts")
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "accounting.contacts"  # identity scopes mean nothing here
    assert "refresh_token" not in body
    headers = {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"}
    assert requests.get(sandbox.api_url + "/Contacts", headers=headers, timeout=10).ok
    denied = requests.get(sandbox.api_url + "/Invoices", headers=headers, timeout=10)
    assert denied.status_code == 403 and denied.json()["Detail"] == "AuthenticationUnsuccessful"


@pytest.mark.parametrize(
    "scope", ["accounting.payments", "accounting.transactions", "accounting.everything"]
)
def test_a_custom_connection_is_refused_scopes_outside_its_configuration(
    sandbox: Sandbox, scope: str
) -> None:
    response = token_form(sandbox, f"accounting.contacts {scope}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope" and scope in body["error_description"]


def test_an_older_apps_custom_connection_may_hold_accounting_transactions(
    sandbox: Sandbox,
) -> None:
    sandbox.control.config(
        app_created=OLDER_APP,
        custom_connection_scopes="accounting.contacts accounting.settings accounting.transactions",
    )
    tokens = sandbox.control.client_credentials(scope="accounting.transactions")
    assert tokens.raw["scope"] == "accounting.transactions"
    headers = {**tokens.bearer, "Accept": "application/json"}
    assert requests.get(sandbox.api_url + "/Invoices", headers=headers, timeout=10).ok
    # The same configuration on a new app: the broad scope is refused.
    sandbox.control.config(app_created="2026-03-02")
    assert token_form(sandbox, "accounting.transactions").json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("app_created", "last spring"),
        ("custom_connection_scopes", "accounting.contacts accounting.everything"),
    ],
)
def test_bad_scope_config_is_refused_by_name(sandbox: Sandbox, key: str, value: str) -> None:
    with pytest.raises(RuntimeError, match=key):
        sandbox.control.config(**{key: value})
    assert sandbox.control.config()["app_created"] == "2026-03-02"
