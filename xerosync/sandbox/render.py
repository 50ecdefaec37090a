"""Response bodies: Xero's JSON envelope, and a minimal XML rendering for clients that do not
ask for JSON (Xero's default format is XML, so a client that forgets `Accept` breaks here as
it would against Xero)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from xml.sax.saxutils import escape

from xerosync.sandbox.dates import msdate

PROVIDER_NAME = "Xero Sandbox App"


def envelope(payload: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": msdate(now_ms),
        **payload,
    }


def to_json(body: Any) -> bytes:
    """Compact JSON; NaN/Infinity raise rather than produce a body that is not JSON."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _singular(name: str) -> str:
    irregular = {
        "Addresses": "Address",
        "Currencies": "Currency",
        "TrackingCategories": "TrackingCategory",
        "Elements": "DataContractBase",
        "Allocations": "Allocation",
        "Options": "Option",
    }
    if name in irregular:
        return irregular[name]
    return name[:-1] if name.endswith("s") else name


def _xml_value(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        out.append(f"<{name}>")
        for key, inner in value.items():
            _xml_value(key, inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        for inner in value:
            _xml_value(_singular(name), inner, out)
        out.append(f"</{name}>")
    elif isinstance(value, bool):
        out.append(f"<{name}>{'true' if value else 'false'}</{name}>")
    else:
        out.append(f"<{name}>{escape(str(value))}</{name}>")


def to_xml(body: Any, error: bool = False) -> bytes:
    """`<Response>` for results, `<ApiException>` for validation errors."""
    root = "ApiException" if error else "Response"
    out = [
        f'<{root} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    ]
    if isinstance(body, dict):
        for key, value in body.items():
            _xml_value(key, value, out)
    else:
        out.append(escape(str(body)))
    out.append(f"</{root}>")
    return "".join(out).encode("utf-8")
