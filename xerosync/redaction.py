"""Keeping secrets out of logs and error reports.

Two nets, both applied to every log record and every Sentry event:
- by *name*: values under keys such as `access_token`, `refresh_token`, `client_secret`,
  `authorization`, `token_encryption_key` are replaced wholesale;
- by *shape and value*: `Bearer …` headers, JWTs, Fernet tokens, `key=value` pairs with a
  secret-sounding key, the password of any `scheme://user:password@host` URL, OAuth's `code=`
  and `state=` query values, and every secret value xerosync has been told about (the client
  secret, the encryption key, the Flower password, each token it stored or loaded) are cut out
  of free text such as exception messages and local variables.

`mask_url` and `mask_setting` render one setting for a person (the Settings `repr`).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

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
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@?#]*:)([^\s@/?#]+)(@)")
_OAUTH_QUERY = re.compile(r"(?i)(?<![A-Za-z0-9_.-])(code|state)=([^&\s#'\"<>]+)")
_NOT_SECRET = frozenset({"xerosync"})
"""Values never remembered as secrets, however they are used: the project's own name (the
sandbox's and docker-compose's default password) would otherwise be cut out of every module
name in the logs. As a URL password it is still masked, by shape."""
_MAX_KNOWN = 2048
_known: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def remember(values: Iterable[str | None]) -> None:
    """Secret values to cut out of any text from now on (bounded, newest kept)."""
    with _lock:
        for value in values:
            if value and len(value) >= 6 and value not in _NOT_SECRET:
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
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{FILTERED}{m.group(3)}", text)
    return _OAUTH_QUERY.sub(lambda m: f"{m.group(1)}={FILTERED}", text)


def url_password(url: str | None) -> str | None:
    """The password inside a URL, if it has one (to be remembered as a secret)."""
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_url(url: str, *, user_too: bool = False) -> str:
    """The URL with its password (and, for a Sentry DSN whose user is the key, its user)
    replaced: `postgresql://xerosync:[Filtered]@db/xerosync`."""
    if user_too:
        return re.sub(r"^([a-z][a-z0-9+.-]*://)[^@/]+@", rf"\g<1>{FILTERED}@", url, flags=re.I)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{FILTERED}{m.group(3)}", url)


_SECRET_SETTING = re.compile(r"(SECRET|PASSWORD|_KEY|TOKEN|CREDENTIAL)S?$")


def is_secret_setting(name: str) -> bool:
    """A setting whose whole value is a secret: `XERO_CLIENT_SECRET`, `FLOWER_PASSWORD`,
    `TOKEN_ENCRYPTION_KEY` (any added later with such a name too)."""
    return bool(_SECRET_SETTING.search(name.upper()))


def mask_setting(name: str, value: Any) -> Any:
    """One setting as a person may see it: secrets masked, URLs without their passwords."""
    if value is None or value == "":
        return value
    if is_secret_setting(name):
        return FILTERED
    if isinstance(value, str) and "://" in value:
        return mask_url(value, user_too="DSN" in name.upper())
    return value


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
