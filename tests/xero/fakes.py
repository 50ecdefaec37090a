"""Hand-written fakes for unit tests: an HTTP session and an identity endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from xerosync.xero.auth import IdentityClient, TokenSet
from xerosync.xero.errors import ReauthorizationRequired, XeroTimeout


@dataclass
class Sent:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any


Handler = Callable[[Sent], tuple[int, Any, dict[str, str]]]


class FakeSession(requests.Session):
    """Answers every request from `handler`; records what was sent."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.sent: list[Sent] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(url)
        data = kwargs.get("data")
        headers = {**self.headers, **(kwargs.get("headers") or {})}
        sent = Sent(
            method,
            parts.path,
            dict(parse_qsl(parts.query)),
            dict(headers),
            json.loads(data) if data else None,
        )
        self.sent.append(sent)
        status, body, extra = self.handler(sent)
        response = requests.Response()
        response.status_code = status
        response._content = (
            body.encode()
            if isinstance(body, str)
            else json.dumps(body).encode()
            if body is not None
            else b""
        )
        response.headers = CaseInsensitiveDict(extra)
        response.url = url
        return response


@dataclass
class FakeIdentity(IdentityClient):
    """An identity endpoint with rotating refresh tokens, counting refresh calls."""

    client_id: str = "client"
    client_secret: str = "s3cret"
    token_url: str = "http://id/connect/token"
    authorize_url: str = "http://login/identity/connect/authorize"
    connections_url: str = "http://api/connections"
    valid_refresh: set[str] = field(default_factory=set)
    refresh_calls: int = 0
    lose_responses: int = 0
    clock_now: float = 1000.0
    lifetime: float = 1800.0
    counter: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, refresh_token: str) -> TokenSet:
        with self.lock:
            self.refresh_calls += 1
            if refresh_token not in self.valid_refresh:
                raise ReauthorizationRequired()
            self.counter += 1
            new = f"r{self.counter}"
            self.valid_refresh.add(new)  # the old one stays valid: the grace period
            if self.lose_responses:
                self.lose_responses -= 1
                raise XeroTimeout("lost", may_have_applied=True)
            return TokenSet(
                access_token=f"a{self.counter}",
                refresh_token=new,
                expires_at=self.clock_now + self.lifetime,
            )

    def client_credentials(self, scopes: Any = ()) -> TokenSet:
        with self.lock:
            self.counter += 1
            return TokenSet(
                access_token=f"cc{self.counter}",
                expires_at=self.clock_now + 1800,
                grant="client_credentials",
            )
