"""Xero's webhook signature: base64(HMAC-SHA256(raw body, the app's webhook key)),
in `x-xero-signature` (XERO_FACTS §13). Compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(body: bytes, key: str) -> str:
    """The signature Xero sends for `body` (the sandbox signs with it too)."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def is_valid(body: bytes, signature: str | None, key: str) -> bool:
    """True only for the exact signature of these bytes; never short-circuits on content."""
    if not signature or not key:
        return False
    return hmac.compare_digest(sign(body, key).encode(), signature.strip().encode())
