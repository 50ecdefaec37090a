"""`SandboxControl`: a small client for the sandbox's `/_sandbox/` endpoints, plus helpers
to get access tokens the way a real app does (tests, benches, `xerosync demo`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from xerosync.sandbox import DEMO_TENANT_ID

DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.contacts "
    "accounting.settings accounting.invoices"
)


@dataclass
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int
    raw: dict[str, Any]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class SandboxControl:
    """Thin wrapper over the control endpoints; raises on any non-2xx answer."""

    def __init__(
        self, url: str, session: requests.Session | None = None, timeout: float = 30.0
    ) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.url}/_sandbox{path}", json=body, timeout=self.timeout
        )
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox {method} {path}: {response.status_code} {response.text}")
        return response.json()

    # state
    def reset(self, seed: str = "demo") -> None:
        self._call("POST", "/reset", {"seed": seed})

    def config(self, **values: Any) -> dict[str, Any]:
        if values:
            return dict(self._call("POST", "/config", values))
        return dict(self._call("GET", "/config"))

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", "/clock", {"advance_seconds": seconds}))

    def expire_tokens(self) -> int:
        return int(self._call("POST", "/tokens/expire")["expired"])

    # faults
    def add_fault(
        self,
        kind: str,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        seconds: float | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"kind": kind, "count": count}
        for key, value in (
            ("method", method),
            ("path", path),
            ("status", status),
            ("seconds", seconds),
        ):
            if value is not None:
                body[key] = value
        return list(self._call("POST", "/faults", body)["Faults"])

    def outage(
        self,
        seconds: float,
        *,
        status: int = 503,
        kind: str = "error",
        method: str | None = None,
        path: str | None = "/api.xro/2.0",
    ) -> list[dict[str, Any]]:
        """Every matching request fails (`kind`, `status`) for the next `seconds` (wall time);
        by default every accounting call answers 503. `clear_faults()` ends it early."""
        body: dict[str, Any] = {"kind": kind, "status": status, "for_seconds": seconds}
        for key, value in (("method", method), ("path", path)):
            if value is not None:
                body[key] = value
        return list(self._call("POST", "/faults", body)["Faults"])

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults")["Faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # request log
    def requests(
        self, *, path: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        rows = list(self._call("GET", "/requests")["Requests"])
        if path is not None:
            rows = [r for r in rows if r["path"].lower().startswith(path.lower())]
        if method is not None:
            rows = [r for r in rows if r["method"] == method.upper()]
        return rows

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    # webhooks (webhooks.py): the app's subscription, its queue, replay and drop
    def webhooks(self, **values: Any) -> dict[str, Any]:
        """The subscription's settings and status; keyword arguments change settings first."""
        if values:
            return dict(self._call("POST", "/webhooks", values))
        return dict(self._call("GET", "/webhooks"))

    def webhook_events(self, state: str = "pending") -> list[dict[str, Any]]:
        """Events `pending` (not yet delivered) or `delivered`, each with its `sequence`."""
        return list(self._call("GET", f"/webhooks/events?state={state}")["Events"])

    def replay_webhooks(self, sequences: list[int] | None = None) -> list[int]:
        """Delivered events sent again, in this order (all delivered if None)."""
        return list(self._call("POST", "/webhooks/replay", {"sequences": sequences})["replayed"])

    def drop_webhooks(self, sequences: list[int] | None = None) -> int:
        """Pending events let go (all if None)."""
        return int(self._call("POST", "/webhooks/drop", {"sequences": sequences})["dropped"])

    def deliver_webhooks(self) -> dict[str, Any]:
        """Deliver now: no batch window, no back-off wait."""
        return dict(self._call("POST", "/webhooks/deliver"))

    # tenants and data
    def tenants(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/tenants")["Tenants"])

    def add_tenant(self, name: str, *, seed: str = "empty", tenant_id: str | None = None) -> str:
        body: dict[str, Any] = {"name": name, "seed": seed}
        if tenant_id:
            body["tenant_id"] = tenant_id
        tenants = self._call("POST", "/tenants", body)["Tenants"]
        return str([t for t in tenants if t["tenantName"] == name][-1]["tenantId"])

    def records(self, collection: str, tenant_id: str = DEMO_TENANT_ID) -> list[dict[str, Any]]:
        """Every stored record of a collection (archived, ACCPAY and all)."""
        return list(self._call("GET", f"/tenants/{tenant_id}/{collection}")[collection])

    def record(
        self, collection: str, record_id: str, tenant_id: str = DEMO_TENANT_ID
    ) -> dict[str, Any]:
        return dict(self._call("GET", f"/tenants/{tenant_id}/{collection}/{record_id}"))

    def edit(
        self,
        collection: str,
        record_id: str,
        fields: dict[str, Any],
        tenant_id: str = DEMO_TENANT_ID,
    ) -> dict[str, Any]:
        """An edit made in Xero's UI (no API read-only rules); bumps UpdatedDateUTC."""
        return dict(self._call("PATCH", f"/tenants/{tenant_id}/{collection}/{record_id}", fields))

    def bulk(self, tenant_id: str = DEMO_TENANT_ID, **counts: int) -> dict[str, int]:
        return dict(self._call("POST", f"/tenants/{tenant_id}/bulk", counts)["created"])

    # tokens
    def client_credentials(
        self,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        scope: str = "accounting.contacts accounting.settings accounting.invoices",
    ) -> Tokens:
        """A custom-connection token (no refresh token, no tenant header needed)."""
        return self._token(
            {"grant_type": "client_credentials", "scope": scope}, client_id, client_secret
        )

    def authorize(
        self,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        redirect_uri: str = "http://localhost:8766/callback",
        scope: str = DEFAULT_SCOPES,
        state: str = "xyz",
    ) -> Tokens:
        """The authorization-code flow end to end: authorize, then exchange the code."""
        response = self.session.get(
            f"{self.url}/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
            },
            allow_redirects=False,
            timeout=self.timeout,
        )
        if response.status_code != 302:
            raise RuntimeError(f"authorize: {response.status_code} {response.text}")
        code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
        return self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            client_id,
            client_secret,
        )

    def refresh(
        self,
        refresh_token: str,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
    ) -> Tokens:
        return self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            client_id,
            client_secret,
        )

    def _token(self, form: dict[str, str], client_id: str, secret: str) -> Tokens:
        response = self.session.post(
            f"{self.url}/connect/token", data=form, auth=(client_id, secret), timeout=self.timeout
        )
        if response.status_code != 200:
            raise RuntimeError(f"token: {response.status_code} {response.text}")
        body = response.json()
        return Tokens(body["access_token"], body.get("refresh_token"), body["expires_in"], body)


def api_headers(tokens: Tokens, tenant_id: str = DEMO_TENANT_ID) -> dict[str, str]:
    """What every accounting call sends: bearer token, tenant, JSON."""
    return {**tokens.bearer, "xero-tenant-id": tenant_id, "Accept": "application/json"}
