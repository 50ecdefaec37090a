"""`/_sandbox/...`: the control endpoints for tests, benches and demos (JSON in and out).

Never rate-limited, never faulted, never written to the request log.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from xerosync.sandbox import bulk, webhooks
from xerosync.sandbox.errors import ApiError
from xerosync.sandbox.faults import Fault
from xerosync.sandbox.resources import contacts, documents, items
from xerosync.sandbox.resources.common import public
from xerosync.sandbox.seed import seed_ctx
from xerosync.sandbox.state import SandboxState
from xerosync.sandbox.store import COLLECTIONS, Record


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def handle(state: SandboxState, request: Request) -> Response:
    try:
        return _route(state, request)
    except ControlError as exc:
        return _json({"error": str(exc)}, exc.status)
    except ApiError as exc:
        return _json({"error": exc.body}, exc.status)
    except (ValueError, TypeError, KeyError) as exc:
        return _json({"error": str(exc)}, 400)


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ControlError(400, "expected a JSON object")
    return data


def _collection(name: str) -> str:
    for known in COLLECTIONS:
        if known.lower() == name.lower():
            return known
    raise ControlError(404, f"unknown collection {name!r}")


def _render_raw(state: SandboxState, tenant_id: str, name: str, record: Record) -> Record:
    tenant = state.tenants[tenant_id]
    if name in ("Invoices", "CreditNotes"):
        out = documents.render(tenant, record)
    else:
        out = public(record)
    out["_created_by"] = record.get("_created_by")
    return out


def _route(state: SandboxState, request: Request) -> Response:
    parts = [p for p in request.path.split("/") if p][1:]
    method = request.method
    head = parts[0] if parts else ""
    if head == "webhooks":  # the sender has its own lock: never held across its POSTs
        return _webhooks(state, request, parts[1:])
    with state.lock:
        if method != "GET":
            state.dirty = True  # config, clock, tokens, tenants, data: all kept by --state
        if head == "health":
            return _json({"ok": True, "tenants": len(state.tenants)})
        if head == "reset" and method == "POST":
            state.reset(str(_body(request).get("seed", "demo")))
            return _json({"ok": True})
        if head == "config":
            if method == "POST":
                state.config.update(_body(request))
            return _json(state.config.as_dict())
        if head == "faults":
            if method == "POST":
                state.faults.add(Fault.from_json(_body(request)))
            elif method == "DELETE":
                state.faults.clear()
            return _json({"Faults": [f.as_dict() for f in state.faults.active()]})
        if head == "clock":
            if method == "POST":
                advance = float(_body(request).get("advance_seconds", 0))
                if advance < 0:
                    raise ControlError(400, "the clock only moves forward")
                state.clock.advance(advance)
            return _json({"now": state.clock.now(), "offset": state.clock.offset})
        if head == "requests":
            if method == "DELETE":
                state.requests.clear()
                return _json({"Requests": []})
            return _json({"Requests": list(state.requests)})
        if head == "tokens" and parts[1:] == ["expire"] and method == "POST":
            return _json({"expired": state.identity.expire_all()})
        if head == "tenants":
            return _tenants(state, request, parts[1:])
    raise ControlError(404, f"no control endpoint {method} {request.path}")


def _webhooks(state: SandboxState, request: Request, rest: list[str]) -> Response:
    """`/_sandbox/webhooks[/events|/replay|/drop|/deliver]`: the app's webhook subscription."""
    sender = webhooks.sender_for(state)
    method, body = request.method, _body(request) if request.method == "POST" else {}
    sequences = body.get("sequences")
    if sequences is not None and not (
        isinstance(sequences, list) and all(isinstance(s, int) for s in sequences)
    ):
        raise ControlError(400, "`sequences` is a list of event sequence numbers")
    if not rest:
        if method == "POST":
            sender.configure(body)
        return _json(sender.status())
    if rest == ["events"] and method == "GET":
        return _json({"Events": sender.events(request.args.get("state", "pending"))})
    if rest == ["replay"] and method == "POST":
        return _json({"replayed": sender.replay(sequences)})
    if rest == ["drop"] and method == "POST":
        return _json({"dropped": sender.drop(sequences)})
    if rest == ["deliver"] and method == "POST":
        sender.deliver_now()
        return _json(sender.status())
    raise ControlError(404, f"no control endpoint {method} {request.path}")


def _tenants(state: SandboxState, request: Request, rest: list[str]) -> Response:
    method = request.method
    if not rest:
        if method == "POST":
            body = _body(request)
            import uuid

            tenant_id = str(body.get("tenant_id") or uuid.uuid4()).lower()
            state.add_tenant(
                tenant_id, str(body.get("name", "Other Company")), str(body.get("seed", "empty"))
            )
        return _json(
            {
                "Tenants": [
                    {"tenantId": t.tenant_id, "tenantName": t.name} for t in state.tenants.values()
                ]
            }
        )
    tenant_id = rest[0].lower()
    tenant = state.tenants.get(tenant_id)
    if tenant is None:
        raise ControlError(404, f"no tenant {tenant_id}")
    if len(rest) == 2 and rest[1] == "bulk" and method == "POST":
        counts = bulk.generate(tenant, state.clock.now(), _body(request))
        state.dirty = True
        return _json({"created": counts})
    if len(rest) == 2 and rest[1].lower() == "organisation":
        return _json(tenant.organisation)
    name = _collection(rest[1]) if len(rest) > 1 else ""
    collection = tenant[name] if name else None
    if collection is None:
        raise ControlError(404, "expected /_sandbox/tenants/{id}/{Collection}[/{id}]")
    if len(rest) == 2 and method == "GET":
        return _json({name: [_render_raw(state, tenant_id, name, r) for r in collection]})
    if len(rest) == 3:
        record = collection.get(rest[2])
        if record is None:
            raise ControlError(404, f"no {name} record {rest[2]}")
        if method == "GET":
            return _json(_render_raw(state, tenant_id, name, record))
        if method == "PATCH":
            fields = _body(request)
            ctx = seed_ctx(tenant, state.clock.now())
            if name == "Contacts":
                updated = contacts.admin_patch(ctx, record, fields)
            elif name == "Items":
                updated = items.admin_patch(ctx, record, fields)
            elif name == "Invoices":
                updated = documents.admin_patch(ctx, documents.INVOICE, record, fields)
            elif name == "CreditNotes":
                updated = documents.admin_patch(ctx, documents.CREDIT_NOTE, record, fields)
            else:
                updated = {**record, **fields}
                collection.put(updated)
            state.dirty = True
            return _json(_render_raw(state, tenant_id, name, updated))
    raise ControlError(405, f"{method} not supported here")
