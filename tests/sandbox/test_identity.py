"""Identity: authorize, token grants, rotation with grace, 401 and 403 bodies, connections."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.fixtures.sandbox import Sandbox
from xerosync.sandbox.control import api_headers


def test_authorize_redirects_with_code_and_state(sandbox: Sandbox) -> None:
    response = requests.get(
        sandbox.url + "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": "app",
            "redirect_uri": "http://localhost:1/cb",
            "scope": "openid offline_access accounting.contacts",
            "state": "s-42",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "localhost:1" and query["state"] == ["s-42"] and query["code"]


def test_code_exchange_returns_xero_token_shape(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize()
    assert tokens.raw["token_type"] == "Bearer" and tokens.expires_in == 1800
    assert tokens.refresh_token and tokens.raw["id_token"] and "scope" in tokens.raw


def test_code_is_single_use(sandbox: Sandbox) -> None:
    response = requests.get(
        sandbox.url + "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": "app",
            "redirect_uri": "http://localhost:1/cb",
            "scope": "offline_access",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:1/cb",
    }
    first = requests.post(sandbox.url + "/connect/token", data=form, auth=("app", "s"), timeout=10)
    again = requests.post(sandbox.url + "/connect/token", data=form, auth=("app", "s"), timeout=10)
    assert first.status_code == 200
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}


def test_pkce_without_secret(sandbox: Sandbox) -> None:
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    response = requests.get(
        sandbox.url + "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": "native",
            "redirect_uri": "http://localhost:1/cb",
            "scope": "offline_access",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    token = requests.post(
        sandbox.url + "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "native",
            "redirect_uri": "http://localhost:1/cb",
            "code_verifier": verifier,
        },
        timeout=10,
    )
    assert token.status_code == 200 and token.json()["refresh_token"]


def test_refresh_rotation_with_grace_then_invalid_grant(sandbox: Sandbox) -> None:
    control = sandbox.control
    first = control.authorize()
    assert first.refresh_token
    second = control.refresh(first.refresh_token)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    # the response was "lost": the previous refresh token still works within the grace period
    control.advance_clock(1700)
    assert control.refresh(first.refresh_token).access_token
    control.advance_clock(200)
    response = requests.post(
        sandbox.url + "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}
    assert control.refresh(second.refresh_token).access_token  # the new one is fine


def test_expired_token_gets_xero_401(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize()
    headers = api_headers(tokens)
    assert (
        requests.get(sandbox.api_url + "/Organisation", headers=headers, timeout=10).status_code
        == 200
    )
    sandbox.control.advance_clock(1801)
    response = requests.get(sandbox.api_url + "/Organisation", headers=headers, timeout=10)
    assert response.status_code == 401
    body = response.json()
    assert body["Title"] == "Unauthorized" and body["Status"] == 401
    assert body["Detail"].startswith("TokenExpired: token expired at ")
    assert set(body) == {"Type", "Title", "Status", "Detail", "Instance", "Extensions"}


def test_tokens_expire_endpoint_and_wrong_token(sandbox: Sandbox) -> None:
    headers = sandbox.headers()
    sandbox.control.expire_tokens()
    assert (
        requests.get(sandbox.api_url + "/Contacts", headers=headers, timeout=10).status_code == 401
    )
    bad = {**headers, "Authorization": "Bearer nonsense"}
    response = requests.get(sandbox.api_url + "/Contacts", headers=bad, timeout=10)
    assert response.status_code == 401 and response.json()["Detail"] == (
        "AuthenticationUnsuccessful"
    )


@pytest.mark.parametrize("tenant", [None, "00000000-0000-0000-0000-000000000001"])
def test_missing_or_wrong_tenant_gets_xero_403(sandbox: Sandbox, tenant: str | None) -> None:
    headers = sandbox.headers()
    del headers["xero-tenant-id"]
    if tenant:
        headers["xero-tenant-id"] = tenant
    response = requests.get(sandbox.api_url + "/Contacts", headers=headers, timeout=10)
    assert response.status_code == 403
    assert response.json()["Title"] == "Forbidden"
    assert response.json()["Detail"] == "AuthenticationUnsuccessful"


def test_client_credentials_needs_no_tenant_header(sandbox: Sandbox) -> None:
    tokens = sandbox.control.client_credentials()
    assert tokens.refresh_token is None
    response = requests.get(
        sandbox.api_url + "/Organisation",
        headers={**tokens.bearer, "Accept": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["Organisations"][0]["Name"] == "Demo Company"


def test_pinned_client_credentials(sandbox: Sandbox) -> None:
    sandbox.control.config(client_id="pinned", client_secret="secret")
    response = requests.post(
        sandbox.url + "/connect/token",
        data={"grant_type": "client_credentials"},
        auth=("other", "secret"),
        timeout=10,
    )
    assert response.status_code == 400 and response.json() == {"error": "invalid_client"}
    assert sandbox.control.client_credentials("pinned", "secret").access_token


def test_connections_and_disconnect(sandbox: Sandbox) -> None:
    sandbox.control.add_tenant("Second Org")
    tokens = sandbox.control.authorize()
    rows = requests.get(sandbox.url + "/connections", headers=tokens.bearer, timeout=10).json()
    assert {r["tenantName"] for r in rows} == {"Demo Company", "Second Org"}
    second = next(r for r in rows if r["tenantName"] == "Second Org")
    assert (
        requests.delete(
            sandbox.url + f"/connections/{second['id']}", headers=tokens.bearer, timeout=10
        ).status_code
        == 204
    )
    response = requests.get(
        sandbox.api_url + "/Contacts", headers=api_headers(tokens, second["tenantId"]), timeout=10
    )
    assert response.status_code == 403


def test_revocation(sandbox: Sandbox) -> None:
    tokens = sandbox.control.authorize()
    assert tokens.refresh_token
    requests.post(
        sandbox.url + "/connect/revocation",
        data={"token": tokens.refresh_token},
        auth=("sandbox-client", "sandbox-secret"),
        timeout=10,
    )
    with pytest.raises(RuntimeError, match="invalid_grant"):
        sandbox.control.refresh(tokens.refresh_token)
