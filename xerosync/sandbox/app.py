"""The WSGI application: routing, and the pipeline every Xero API call goes through.

Pipeline: fault injection → authentication (401) → tenant (403) → the endpoint's scope (403)
→ rate limit (429, and the `X-*Limit-Remaining` headers) → latency → Idempotency-Key replay →
the resource handler → rendering (JSON, or XML when `Accept` lacks application/json) →
request log. Control endpoints under `/_sandbox/` bypass all of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from xerosync.sandbox import API_PREFIX, compression, controlapi, errors
from xerosync.sandbox.dates import connection_time
from xerosync.sandbox.errors import ApiError
from xerosync.sandbox.faults import Fault
from xerosync.sandbox.idempotency import MAX_KEY_LENGTH, Stored, fingerprint
from xerosync.sandbox.identity import Grant, ScopeRefused, parse_basic, scope_allows
from xerosync.sandbox.render import envelope, to_json, to_xml
from xerosync.sandbox.resources import contacts, documents, items, settings
from xerosync.sandbox.resources.common import Ctx
from xerosync.sandbox.state import SandboxState

Handler = Callable[..., tuple[int, Any]]
log = logging.getLogger("xerosync.sandbox")

_SETTINGS = ("accounts", "taxrates", "currencies", "brandingthemes", "trackingcategories")
_SETTING_NAMES = {n.lower(): n for n in settings.SCHEMAS}

API_RULES = Map(
    [
        Rule("/contacts", endpoint="contacts", methods=["GET", "PUT", "POST"]),
        Rule("/contacts/<key>", endpoint="contact", methods=["GET", "POST"]),
        Rule("/items", endpoint="items", methods=["GET", "PUT", "POST"]),
        Rule("/items/<key>", endpoint="item", methods=["GET", "POST", "DELETE"]),
        Rule("/invoices", endpoint="invoices", methods=["GET", "PUT", "POST"]),
        Rule("/invoices/<key>", endpoint="invoice", methods=["GET", "POST"]),
        Rule("/creditnotes", endpoint="creditnotes", methods=["GET", "PUT", "POST"]),
        Rule("/creditnotes/<key>", endpoint="creditnote", methods=["GET", "POST"]),
        Rule("/organisation", endpoint="organisation", methods=["GET"]),
        Rule("/organisations", endpoint="organisation", methods=["GET"]),
        *[Rule(f"/{n}", endpoint=f"list:{n}", methods=["GET"]) for n in _SETTINGS],
        *[Rule(f"/{n}/<key>", endpoint=f"get:{n}", methods=["GET"]) for n in _SETTINGS],
    ]
)


class SandboxApp:
    """Call with a WSGI environ; all state lives in `self.state`."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox"):
            response = controlapi.handle(self.state, request)
        else:
            response = self.handle_xero(request)
        return response(environ, start_response)

    # -- the pipeline ----------------------------------------------------------------------
    def handle_xero(self, request: Request) -> Response:
        state = self.state
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(state.clock.now(), UTC).isoformat(),
            "method": request.method,
            "path": request.path,
            "query": {k: request.args.getlist(k) for k in request.args},
            "tenant_id": request.headers.get("xero-tenant-id"),
            "status": None,
            "grant_type": None,
            "idempotency_key": request.headers.get("Idempotency-Key"),
            "replayed": False,
            "fault": None,
            "bytes": None,
        }
        oversize = self._oversize(request)
        if oversize is not None:
            return self._finish(entry, request, oversize)
        with state.lock:
            fault = state.faults.take(request.method, request.path)
        if fault is not None:
            entry["fault"] = fault.kind
            if fault.kind == "drop":
                self._log(entry)
                _drop(request)
            if fault.kind == "error":
                # Read the body even though it is refused: left unread on a kept-alive
                # connection it would be parsed as the next request.
                with contextlib.suppress(RequestEntityTooLarge):
                    request.get_data(cache=False)
                return self._finish(entry, request, _fault_response(fault, request))
            if fault.kind == "slow":
                time.sleep(fault.seconds)
        try:
            response = self.route(request, entry)
        except ApiError as exc:
            response = self.error_response(exc, request)
        except RequestEntityTooLarge:  # a chunked body that grew past the limit
            response = _too_large(self.state.config.max_request_bytes, None)
        except Exception as exc:  # a sandbox bug: still an answer, still in the log
            log.exception("sandbox error on %s %s", request.method, request.path)
            response = _unhandled(exc)
        self._finish(entry, request, response)
        if fault is not None and fault.kind == "lost_response":
            _drop(request)
        return response

    def _finish(self, entry: dict[str, Any], request: Request, response: Response) -> Response:
        """Compress (when asked and large enough), then log status and bytes on the wire."""
        compression.compress(request, response, self.state.config.gzip_min_bytes)
        entry["status"] = response.status_code
        entry["bytes"] = compression.wire_bytes(response)
        self._log(entry)
        return response

    def _oversize(self, request: Request) -> Response | None:
        """Refuse a body over `max_request_bytes` (XERO_FACTS §5: design for 3.5 MB) before
        reading it into memory; a chunked body is capped while it is read (werkzeug's
        `max_content_length`), so no body is ever held past the limit."""
        limit = self.state.config.max_request_bytes
        request.max_content_length = limit + 1  # a chunked body stops one byte past it
        length = request.content_length
        if length is None or length <= limit:
            return None
        _drain(request.environ.get("wsgi.input"), length)
        return _too_large(limit, length)

    def _log(self, entry: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.log(entry)

    def route(self, request: Request, entry: dict[str, Any]) -> Response:
        path = request.path
        lowered = path.lower()
        if lowered.startswith(API_PREFIX.lower() + "/"):
            return self.accounting(request, lowered[len(API_PREFIX) :], entry)
        if lowered == "/identity/connect/authorize" and request.method == "GET":
            return self.authorize(request)
        if lowered == "/connect/token" and request.method == "POST":
            return self.token(request, entry)
        if lowered == "/connect/revocation" and request.method == "POST":
            return self.revocation(request)
        if lowered == "/connections" and request.method == "GET":
            return self.connections(request)
        if lowered.startswith("/connections/") and request.method == "DELETE":
            return self.disconnect(request, path.rsplit("/", 1)[1])
        return Response("Not Found", 404, mimetype="text/plain")

    # -- identity ---------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response:
        state = self.state
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("response_type") != "code" or not redirect_uri:
            return Response(
                "invalid_request: response_type=code and redirect_uri are required",
                400,
                mimetype="text/plain",
            )
        with state.lock:
            try:
                state.identity.check_client(state.config, args.get("client_id", ""), None)
            except ApiError:
                return Response("unauthorized_client", 400, mimetype="text/plain")
            try:
                code = state.identity.authorize(
                    args.get("client_id", ""),
                    redirect_uri,
                    args.get("scope", ""),
                    list(state.tenants),
                    state.clock.now(),
                    state.config,
                    code_challenge=args.get("code_challenge"),
                )
            except ScopeRefused as refused:
                # Xero's own answer is unconfirmed; the sandbox's is RFC 6749 §4.1.2.1.
                return _redirect(
                    redirect_uri,
                    [
                        ("error", "invalid_scope"),
                        ("error_description", refused.description),
                    ],
                    args.get("state"),
                )
            state.dirty = True
        return _redirect(
            redirect_uri, [("code", code)], args.get("state"), scope=args.get("scope", "")
        )

    def token(self, request: Request, entry: dict[str, Any]) -> Response:
        state = self.state
        form = request.form
        grant_type = form.get("grant_type", "")
        entry["grant_type"] = grant_type
        basic = parse_basic(request.headers.get("Authorization", ""))
        client_id, secret = (
            basic if basic else (form.get("client_id", ""), form.get("client_secret"))
        )
        now = state.clock.now()
        with state.lock:
            state.identity.check_client(state.config, client_id, secret)
            state.dirty = True
            if grant_type == "authorization_code":
                body = state.identity.exchange_code(
                    form.get("code", ""),
                    form.get("redirect_uri", ""),
                    client_id,
                    form.get("code_verifier"),
                    bool(secret),
                    now,
                    state.config,
                )
            elif grant_type == "refresh_token":
                body = state.identity.refresh(
                    form.get("refresh_token", ""), client_id, now, state.config
                )
            elif grant_type == "client_credentials":
                if not secret:
                    raise errors.oauth_error("invalid_client")
                tenant_id = next(iter(state.tenants))
                try:
                    body = state.identity.client_credentials(
                        client_id, tenant_id, form.get("scope", ""), now, state.config
                    )
                except ScopeRefused as refused:
                    raise errors.oauth_error(
                        "invalid_scope", description=refused.description
                    ) from None
            else:
                raise errors.oauth_error("unsupported_grant_type")
        return Response(
            to_json(body),
            200,
            mimetype="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def revocation(self, request: Request) -> Response:
        with self.state.lock:
            self.state.identity.revoke(request.form.get("token", ""))
            self.state.dirty = True
        return Response("", 200)

    def connections(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            grant = state.identity.authenticate(
                request.headers.get("Authorization", ""), state.clock.now()
            )
            wanted = request.args.get("authEventId")
            rows = []
            if not wanted or wanted == grant.auth_event_id:
                for tenant_id in grant.tenant_ids:
                    tenant = state.tenants.get(tenant_id)
                    if tenant is None:
                        continue
                    when = connection_time(grant.connected_at.get(tenant_id, tenant.created_at))
                    rows.append(
                        {
                            "id": grant.connection_ids[tenant_id],
                            "authEventId": grant.auth_event_id,
                            "tenantId": tenant_id,
                            "tenantType": "ORGANISATION",
                            "tenantName": tenant.name,
                            "createdDateUtc": when,
                            "updatedDateUtc": when,
                        }
                    )
        return Response(to_json(rows), 200, mimetype="application/json")

    def disconnect(self, request: Request, connection_id: str) -> Response:
        state = self.state
        with state.lock:
            grant = state.identity.authenticate(
                request.headers.get("Authorization", ""), state.clock.now()
            )
            if not state.identity.disconnect(grant, connection_id.lower()):
                return Response("", 404)
            state.dirty = True
        return Response("", 204)

    # -- accounting -------------------------------------------------------------------------
    def accounting(self, request: Request, subpath: str, entry: dict[str, Any]) -> Response:
        state = self.state
        with state.lock:
            now = state.clock.now()
            grant = state.identity.authenticate(request.headers.get("Authorization", ""), now)
            tenant_id = _tenant_for(state, grant, request.headers.get("xero-tenant-id"))
            entry["tenant_id"] = tenant_id
            resource = subpath.strip("/").split("/", 1)[0]
            if not scope_allows(grant.scope, request.method, resource):
                raise errors.forbidden()  # Xero's 403 does not name the missing scope
            decision = state.limiter.acquire(tenant_id, grant.client_id, now, state.config)
        if not decision.allowed:
            return Response(b"", 429, headers=decision.headers, mimetype="text/plain")
        try:
            if state.config.latency_ms:
                time.sleep(state.config.latency_ms / 1000)
            response = self._accounting_call(request, subpath, entry, grant, tenant_id)
        except ApiError as exc:
            response = self.error_response(exc, request)
        finally:
            with state.lock:
                state.limiter.release(tenant_id, grant.client_id)
        for key, value in decision.headers.items():
            response.headers[key] = value
        return response

    def _accounting_call(
        self, request: Request, subpath: str, entry: dict[str, Any], grant: Grant, tenant_id: str
    ) -> Response:
        state = self.state
        key = request.headers.get("Idempotency-Key")
        use_key = bool(key) and request.method in ("PUT", "POST")
        raw_body = request.get_data(cache=True)
        if len(raw_body) > state.config.max_request_bytes:
            raise RequestEntityTooLarge()  # a chunked body: its length shows only now
        if use_key and key is not None and len(key) > MAX_KEY_LENGTH:
            raise errors.validation(
                f"The Idempotency-Key must be no more than {MAX_KEY_LENGTH} characters long."
            )
        with state.lock:
            now = state.clock.now()
            if use_key and key is not None:
                print_ = fingerprint(
                    request.method, request.path.lower(), request.query_string.decode(), raw_body
                )
                stored = state.idempotency.lookup(grant.client_id, key, now)
                if stored is not None:
                    if stored.fingerprint != print_:
                        raise errors.validation(
                            f"The Idempotency-Key {key} is used with a different request."
                        )
                    entry["replayed"] = True
                    return Response(stored.body, stored.status, headers=stored.headers)
            try:
                response = self._dispatch(request, subpath, grant, tenant_id, raw_body, now)
            except ApiError as exc:
                response = self.error_response(exc, request)
            if request.method != "GET":
                state.dirty = True
            if use_key and key is not None and response.status_code < 500:
                state.idempotency.remember(
                    grant.client_id,
                    key,
                    Stored(
                        print_,
                        now + state.config.idempotency_seconds,
                        response.status_code,
                        {"Content-Type": response.headers.get("Content-Type", "")},
                        response.get_data(),
                    ),
                    now,
                )
            return response

    def _dispatch(
        self,
        request: Request,
        subpath: str,
        grant: Grant,
        tenant_id: str,
        raw_body: bytes,
        now: float,
    ) -> Response:
        adapter = API_RULES.bind("sandbox", "/")
        try:
            endpoint, values = adapter.match(subpath, method=request.method)
        except MethodNotAllowed:
            return Response("Method not allowed", 405, mimetype="text/plain")
        except NotFound:
            raise errors.not_found() from None
        except HTTPException:
            raise errors.not_found() from None
        body: Any = None
        if raw_body.strip():
            try:
                body = json.loads(raw_body)
            except ValueError:
                raise errors.validation(
                    "The request body is not valid JSON. (The sandbox accepts JSON bodies only.)"
                ) from None
        ctx = Ctx(
            tenant=self.state.tenants[tenant_id],
            client_id=grant.client_id,
            now=now,
            config=self.state.config,
            args=request.args,
            headers=dict(request.headers),
            body=body,
            method=request.method,
        )
        status, payload = self._handler(endpoint, request.method)(ctx, **values)
        if payload is None:
            return Response(b"", status)
        return self.ok_response(status, payload, request, now)

    @staticmethod
    def _handler(endpoint: str, method: str) -> Handler:
        inv, cn = documents.INVOICE, documents.CREDIT_NOTE
        create = method == "PUT"
        if endpoint.startswith("list:"):
            name = _SETTING_NAMES[endpoint[5:]]
            return lambda ctx: settings.list_settings(ctx, name)
        if endpoint.startswith("get:"):
            name = _SETTING_NAMES[endpoint[4:]]
            return lambda ctx, key: settings.get_setting(ctx, name, key)
        table: dict[tuple[str, str], Handler] = {
            ("contacts", "GET"): contacts.list_contacts,
            ("contacts", "PUT"): lambda ctx: contacts.write_contacts(ctx, create_only=True),
            ("contacts", "POST"): lambda ctx: contacts.write_contacts(ctx, create_only=False),
            ("contact", "GET"): contacts.get_contact,
            ("contact", "POST"): lambda ctx, key: contacts.write_contacts(
                ctx, create_only=False, path_id=key
            ),
            ("items", "GET"): items.list_items,
            ("items", "PUT"): lambda ctx: items.write_items(ctx, create_only=True),
            ("items", "POST"): lambda ctx: items.write_items(ctx, create_only=False),
            ("item", "GET"): items.get_item,
            ("item", "POST"): lambda ctx, key: items.write_items(
                ctx, create_only=False, path_id=key
            ),
            ("item", "DELETE"): items.delete_item,
            ("invoices", "GET"): lambda ctx: documents.list_documents(ctx, inv),
            ("invoices", "PUT"): lambda ctx: documents.write_documents(ctx, inv, create_only=True),
            ("invoices", "POST"): lambda ctx: documents.write_documents(
                ctx, inv, create_only=False
            ),
            ("invoice", "GET"): lambda ctx, key: documents.get_document(ctx, inv, key),
            ("invoice", "POST"): lambda ctx, key: documents.write_documents(
                ctx, inv, create_only=False, path_id=key
            ),
            ("creditnotes", "GET"): lambda ctx: documents.list_documents(ctx, cn),
            ("creditnotes", "PUT"): lambda ctx: documents.write_documents(
                ctx, cn, create_only=True
            ),
            ("creditnotes", "POST"): lambda ctx: documents.write_documents(
                ctx, cn, create_only=False
            ),
            ("creditnote", "GET"): lambda ctx, key: documents.get_document(ctx, cn, key),
            ("creditnote", "POST"): lambda ctx, key: documents.write_documents(
                ctx, cn, create_only=False, path_id=key
            ),
            ("organisation", "GET"): settings.organisation,
        }
        del create
        return table[(endpoint, method)]

    # -- responses --------------------------------------------------------------------------
    def ok_response(
        self, status: int, payload: dict[str, Any], request: Request, now: float
    ) -> Response:
        if status >= 400:
            return self._render(status, payload, request, error=True)
        return self._render(status, envelope(payload, int(now * 1000)), request)

    def error_response(self, exc: ApiError, request: Request) -> Response:
        if isinstance(exc.body, str):
            response = Response(exc.body, exc.status, mimetype="text/plain")
        elif exc.always_json:
            response = Response(to_json(exc.body), exc.status, mimetype="application/json")
        else:
            response = self._render(exc.status, exc.body, request, error=True)
        for key, value in exc.headers.items():
            response.headers[key] = value
        return response

    @staticmethod
    def _render(status: int, body: Any, request: Request, *, error: bool = False) -> Response:
        accept = request.headers.get("Accept", "")
        headers = {"Xero-Correlation-Id": str(uuid.uuid4())}
        if "application/json" in accept.lower():
            return Response(
                to_json(body),
                status,
                headers=headers,
                content_type="application/json; charset=utf-8",
            )
        return Response(
            to_xml(body, error=error),
            status,
            headers=headers,
            content_type="text/xml; charset=utf-8",
        )


def _redirect(
    redirect_uri: str, params: list[tuple[str, str]], state: str | None, scope: str | None = None
) -> Response:
    """302 to the client's redirect URI with `params`, then `state`, then `scope` added."""
    parts = urlsplit(redirect_uri)
    query = [*parse_qsl(parts.query), *params]
    if state is not None:
        query.append(("state", state))
    if scope is not None:
        query.append(("scope", scope))
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return Response("", 302, headers={"Location": location})


def _tenant_for(state: SandboxState, grant: Grant, header: str | None) -> str:
    """The tenant a call is for, or Xero's 403 (custom connections need no header)."""
    if not header:
        if grant.custom and grant.tenant_ids:
            return grant.tenant_ids[0]
        raise errors.forbidden()
    wanted = header.strip().lower()
    if wanted not in grant.tenant_ids or wanted not in state.tenants:
        raise errors.forbidden()
    return wanted


def _fault_response(fault: Fault, request: Request) -> Response:
    """An injected error, in the shape Xero uses for that status where it has one."""
    status = fault.status
    if status == 401:
        exc = errors.unauthorized()
        return Response(to_json(exc.body), 401, mimetype="application/json", headers=exc.headers)
    if status == 403:
        return Response(to_json(errors.forbidden().body), 403, mimetype="application/json")
    if status == 429:
        return Response(
            b"",
            429,
            mimetype="text/plain",
            headers={
                "X-Rate-Limit-Problem": "minute",
                "Retry-After": str(max(1, int(fault.seconds))),
                "X-MinLimit-Remaining": "0",
            },
        )
    if request.path.lower().startswith("/connect/"):
        return Response(to_json({"error": "server_error"}), status, mimetype="application/json")
    texts = {
        500: "An unhandled error has occurred",
        502: "Bad Gateway",
        503: "The Xero API is currently offline for maintenance",
        504: "Gateway Timeout",
    }
    return Response(texts.get(status, "Error"), status, mimetype="text/plain")


DRAIN_LIMIT = 64 * 1024 * 1024
"""An oversize body up to this size is read and thrown away (64 KB at a time) so the client,
still sending, gets the 413 instead of a reset connection; past it the connection closes."""


def _drain(stream: Any, length: int) -> None:
    if stream is None or length > DRAIN_LIMIT:
        return
    left = length
    with contextlib.suppress(OSError, ValueError):
        while left > 0:
            chunk = stream.read(min(65536, left))
            if not chunk:
                break
            left -= len(chunk)


def _too_large(limit: int, length: int | None) -> Response:
    """413 in the gateway's problem shape — the sandbox's choice: Xero's answer to an
    oversize request is unconfirmed. The connection is closed after it."""
    size = f"{length:,} bytes" if length is not None else "over the limit"
    body = errors.problem(
        413,
        "Request Entity Too Large",
        f"The request body is {size}; the limit is {limit:,} bytes.",
    )
    return Response(
        to_json(body), 413, mimetype="application/json", headers={"Connection": "close"}
    )


def _unhandled(exc: Exception) -> Response:
    """A sandbox bug answered as Xero answers its own (a 500), with a JSON body."""
    body = errors.problem(500, "An unhandled error has occurred", f"{type(exc).__name__}: {exc}")
    return Response(to_json(body), 500, mimetype="application/json")


def _drop(request: Request) -> None:
    """Close the connection without an answer (a dropped or lost response)."""
    sock = request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("sandbox fault: connection dropped")


__all__ = ["SandboxApp", "connection_time"]
