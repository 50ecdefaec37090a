"""Fingerprints of what is pushed, so an unchanged record costs no call.

Two payloads that Xero would store the same way get the same fingerprint: keys are sorted and
decimals are normalised (`10`, `10.0` and `10.00` are one price).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal):
        normal = value.normalize()
        return {"$decimal": format(normal if normal != 0 else Decimal(0), "f")}
    if isinstance(value, datetime | date):
        return {"$date": value.isoformat()}
    return value


def fingerprint(payload: Mapping[str, Any]) -> str:
    """A short, stable hash of `payload` (hex SHA-256)."""
    text = json.dumps(_canonical(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
