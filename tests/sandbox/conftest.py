"""Sandbox test helpers. Every accounting response any test receives through the `xero`
fixture is validated against Xero's official OpenAPI spec (loaded once per session).

Relaxed on purpose (the spec lags the live API, see XERO_FACTS §14): statuses the spec does
not document for a path (401, 403, 404 on most paths, 405, 429, injected 5xx) are not
validated against it; their shapes are asserted by the tests themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from tests.fixtures.sandbox import Sandbox
from xerosync.sandbox.server import RunningSandbox

SPEC_DIR = Path(__file__).resolve().parent / "spec"
"""Xero's official OpenAPI spec, vendored (MIT) so any clone can run the conformance tests."""


@pytest.fixture(scope="session")
def accounting_spec_dict() -> dict[str, Any]:
    with (SPEC_DIR / "xero_accounting.yaml").open() as handle:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return dict(yaml.load(handle, Loader=loader))


@pytest.fixture(scope="session")
def openapi(accounting_spec_dict: dict[str, Any], sandbox_server: RunningSandbox) -> OpenAPI:
    spec = copy.copy(accounting_spec_dict)
    spec["servers"] = [{"url": sandbox_server.url + "/api.xro/2.0"}]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@pytest.fixture(scope="session")
def identity_openapi(sandbox_server: RunningSandbox) -> OpenAPI:
    with (SPEC_DIR / "xero-identity.yaml").open() as handle:
        spec = yaml.safe_load(handle)
    # Relaxed: the spec says `format: date-time`, but its own example (and Xero) sends
    # "2019-12-07T18:46:19.5165400" — no offset, so not RFC 3339. The sandbox sends Xero's form.
    for name in ("createdDateUtc", "updatedDateUtc"):
        spec["components"]["schemas"]["Connection"]["properties"][name].pop("format", None)
    spec["servers"] = [{"url": sandbox_server.url}]
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


def documented_statuses(spec: dict[str, Any], path: str, method: str) -> set[int]:
    for template, item in spec["paths"].items():
        parts, wanted = template.strip("/").split("/"), path.strip("/").split("/")
        if len(parts) != len(wanted):
            continue
        if all(
            p.startswith("{") or p.lower() == w.lower() for p, w in zip(parts, wanted, strict=True)
        ):
            op = item.get(method.lower())
            if op:
                return {int(code) for code in op["responses"] if code.isdigit()}
    return set()


class Xero:
    """requests against the sandbox's accounting API, each response checked against the spec."""

    def __init__(self, sandbox: Sandbox, openapi: OpenAPI, spec: dict[str, Any]) -> None:
        self.sandbox = sandbox
        self.openapi = openapi
        self.spec = spec
        self.session = requests.Session()
        self.validated = 0

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**self.sandbox.headers(), **(extra or {})}

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        validate: bool = True,
        raw_headers: bool = False,
    ) -> requests.Response:
        sent = headers if raw_headers else self.headers(headers)
        response = self.session.request(
            method, self.sandbox.api_url + path, params=params, json=json, headers=sent, timeout=30
        )
        if validate:
            self.check(response, path)
        return response

    def check(self, response: requests.Response, path: str) -> None:
        method = response.request.method or "GET"
        if response.status_code not in documented_statuses(self.spec, path.split("?")[0], method):
            return
        if "json" not in response.headers.get("Content-Type", "") and response.content:
            return
        self.openapi.validate_response(
            RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
        )
        self.validated += 1

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def put(self, path: str, json: Any, **kw: Any) -> requests.Response:
        return self.call("PUT", path, json=json, **kw)

    def post(self, path: str, json: Any, **kw: Any) -> requests.Response:
        return self.call("POST", path, json=json, **kw)


@pytest.fixture
def xero(
    sandbox: Sandbox, openapi: OpenAPI, accounting_spec_dict: dict[str, Any]
) -> Iterator[Xero]:
    client = Xero(sandbox, openapi, accounting_spec_dict)
    yield client
    client.session.close()


def contact_id(sandbox: Sandbox, name: str) -> str:
    for record in sandbox.control.records("Contacts"):
        if record["Name"] == name:
            return str(record["ContactID"])
    raise KeyError(name)


def messages(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]
