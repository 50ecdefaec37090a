"""Keeping secrets out of logs and error reports.

Two nets, both applied to every log record and every Sentry event:
- by *name*: values under keys such as `access_token`, `refresh_token`, `client_secret`,
  `authorization`, `token_encryption_key` are replaced wholesale;
- by *shape and value*: `Bearer …` headers, JWTs, Fernet tokens, `key=value` pairs with a
  secret-sounding key, and every secret value xerosync has been told about (the client secret,
  the encryption key, each token it stored or loaded) are cut out of free text such as
  exception messages and local variables.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

FILTERED = "[Filtered]"
SECRET_KEYS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "authorization",
        "proxy-authorization",
        "token_encryption_key",
        "xero_client_secret",
        "sandbox_client_secret",
        "code",
        "code_verifier",
        "password",
        "secret",
        "token",
        "token_blob",
        "sentry_dsn",
        "flower_password",
    }
)
_SECRET_KEYS_NORMAL = frozenset(k.replace("-", "_") for k in SECRET_KEYS)


def _normal_key(key: str) -> str:
    return key.lower().replace("-", "_")


_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"),
    re.compile(
        r"(?i)\b(access_token|refresh_token|id_token|client_secret|code_verifier|password|"
        r"authorization)(\W{1,4})([^\s&,;'\"}]+)"
    ),
)
_MAX_KNOWN = 2048
_known: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def remember(values: Iterable[str | None]) -> None:
    """Secret values to cut out of any text from now on (bounded, newest kept)."""
    with _lock:
        for value in values:
            if value and len(value) >= 6:
                _known[value] = None
                _known.move_to_end(value)
        while len(_known) > _MAX_KNOWN:
            _known.popitem(last=False)


def scrub_text(text: str) -> str:
    with _lock:
        known = list(_known)
    for value in known:
        if value in text:
            text = text.replace(value, FILTERED)
    for pattern in _PATTERNS:
        if pattern.groups == 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{FILTERED}", text)
        else:
            text = pattern.sub(FILTERED, text)
    return text


def scrub(value: Any, key: str | None = None) -> Any:
    """A copy of `value` (dicts, lists, text) with every secret replaced."""
    if key is not None and _normal_key(key) in _SECRET_KEYS_NORMAL:
        return FILTERED if value not in (None, "") else value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(v) for v in value)
    return value
