"""Errors from talking to Xero, as values with a meaning.

Every failure the client raises is a `XeroError`. The tree is shallow and sorted by what the
caller should do, not by HTTP status::

    XeroError                     root: status, body, headers, correlation_id,
                                  retryable, retry_after
    ├── AuthenticationError       401 / token endpoint refusals: the credentials are not accepted
    │   ├── ReauthorizationRequired   invalid_grant: a person must connect again (never retryable)
    │   └── TokenRefreshBusy      another process holds the refresh lock too long (retryable)
    ├── PermissionDenied          403: wrong tenant, missing scope, user lacks permission
    │                             (names the scope an Accounting endpoint needs)
    ├── NotFound                  404
    ├── ValidationError           400: Xero refused what was sent; `.elements` per element
    ├── RateLimited               429: `.limit` says which (minute/day/concurrent/appminute/budget)
    │   └── BudgetExhausted       refused locally by the shared budget before any request was made
    ├── ServerError               5xx (incl. HTML/plain-text outage pages); retryable except 501
    └── TransportError            no usable HTTP response: connection refused/dropped, timeout
        └── XeroTimeout           the request may have reached Xero (`.may_have_applied`)

`retryable` answers "will the same request, later, plausibly succeed?"; `retry_after` (seconds)
says when, if Xero or the budget said so. Messages never contain tokens or secrets: the request
is described by method and path only, and token-endpoint bodies are redacted.

One factory, `error_from_response`, turns any HTTP response into the right class.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from xerosync.xero import scopes

_SECRET_KEYS = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "code", "code_verifier"}
)
_REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """Copy of a parsed body with token-like fields replaced, so it is safe to keep and log."""
    if isinstance(value, Mapping):
        return {
            k: (_REDACTED if str(k).lower() in _SECRET_KEYS else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class ElementError:
    """What Xero said about one element of a request.

    `index` is the element's position in the request when it can be known (batch results and
    single-element requests), else its position in the error's `Elements` list. `field` is the
    payload field the message is about, when the message makes that clear.
    """

    index: int
    messages: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    field: str | None = None
    ids: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        where = f"element {self.index}" + (f" ({self.field})" if self.field else "")
        return f"{where}: {'; '.join(self.messages) or 'no message'}"


class XeroError(Exception):
    """Root of every error the Xero client raises."""

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        correlation_id: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = redact(body)
        self.headers: dict[str, str] = {
            k: v
            for k, v in (headers or {}).items()
            if k.lower() not in {"authorization", "set-cookie"}
        }
        self.correlation_id = correlation_id
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after
        self.method = method
        self.path = path

    def __str__(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        prefix = " → ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.correlation_id:
            text += f" [correlation {self.correlation_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"retryable={self.retryable!r}, retry_after={self.retry_after!r})"
        )


class AuthenticationError(XeroError):
    """Xero did not accept the credentials (expired/revoked token, bad client)."""


class ReauthorizationRequired(AuthenticationError):
    """The refresh token is no longer accepted (`invalid_grant`): someone must connect again."""

    def __init__(self, message: str = "the connection must be authorised again", **kw: Any) -> None:
        kw["retryable"] = False
        super().__init__(message, **kw)


class TokenRefreshBusy(AuthenticationError):
    """Another process is refreshing this organisation's token and has not finished in time."""

    default_retryable = True


class PermissionDenied(XeroError):
    """Authenticated, but not allowed: wrong tenant, missing scope, or the user lacks a role.

    Xero's 403 names none of these. For an Accounting endpoint the message says which scope
    the endpoint needs and that XERO_SCOPES asks for it; `needed_scope` holds that scope.
    """

    def __init__(self, message: str, *, needed_scope: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.needed_scope = needed_scope


class NotFound(XeroError):
    """The resource does not exist (or an `IDs` list was too long for Xero)."""


class ValidationError(XeroError):
    """Xero refused the request's content; `elements` holds the per-element messages."""

    def __init__(self, message: str, *, elements: tuple[ElementError, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.elements = elements

    def __str__(self) -> str:
        text = super().__str__()
        if self.elements:
            text += " | " + " | ".join(str(e) for e in self.elements[:5])
            if len(self.elements) > 5:
                text += f" | (+{len(self.elements) - 5} more)"
        return text


RATE_LIMITS = ("minute", "day", "concurrent", "appminute", "budget", "unknown")


class RateLimited(XeroError):
    """Over a rate limit. `limit` names it; `retry_after` (seconds) says when to come back."""

    default_retryable = True

    def __init__(self, message: str, *, limit: str = "unknown", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(limit={self.limit!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r})"
        )


class BudgetExhausted(RateLimited):
    """The shared budget refused a permit; nothing was sent to Xero.

    `limit` is "budget"; `dimension` says which part of it: "minute", "day", "concurrent",
    "closed" (closed until a Retry-After after Xero answered 429) or "invoices" (routine work
    held while invoice calls wait; `app…` for the app-wide budget's).
    """

    def __init__(self, *, dimension: str, retry_after: float, priority: str = "routine") -> None:
        if dimension.endswith("invoices"):  # invoices wait: they are first in line
            scope = "the app's" if dimension.startswith("app") else "the organisation's"
            words = f"{priority} work waits while invoices take {scope} budget"
        else:
            words = f"rate budget for {priority} work exhausted ({dimension})"
        super().__init__(
            f"{words}; come back in {retry_after:.3f}s",
            limit="budget",
            retry_after=retry_after,
            retryable=True,
        )
        self.dimension = dimension
        self.priority = priority


class ServerError(XeroError):
    """Xero failed (5xx), including outage pages that are not JSON."""

    default_retryable = True


class TransportError(XeroError):
    """No usable HTTP response: refused, reset, dropped, or a broken body."""

    default_retryable = True

    def __init__(self, message: str, *, may_have_applied: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.may_have_applied = may_have_applied


class XeroTimeout(TransportError):
    """No answer in time. For a write, Xero may have applied it: retry with the same key."""


# --------------------------------------------------------------------------------------------
# The factory.

_FIELD_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), f)
    for p, f in (
        (r"\bcontact name\b", "Name"),
        (r"\bcontact number\b", "ContactNumber"),
        (r"\bemail address\b", "EmailAddress"),
        (r"\baccount code\b", "AccountCode"),
        (r"\btax ?type\b", "TaxType"),
        (r"\bitem code\b", "ItemCode"),
        (r"\binvoice ?#|\binvoice number\b", "InvoiceNumber"),
        (r"\bcurrency\b", "CurrencyCode"),
        (r"\bdue date\b", "DueDate"),
        (r"\bline items?\b|\blineitem", "LineItems"),
        (r"\bquantity\b", "Quantity"),
        (r"\bunit (amount|price)\b", "UnitAmount"),
        (r"\bdiscount\b", "DiscountRate"),
        (r"\bbranding theme\b", "BrandingThemeID"),
        (r"\btracking\b", "Tracking"),
        (r"\b(item )?code\b.*\b(must|is|already)\b", "Code"),
        (r"\bname\b.*\b(must|is|already|cannot|exceed)", "Name"),
        (r"\bcontact\b", "Contact"),
    )
)


def field_from_message(message: str) -> str | None:
    """Best guess at which payload field a Xero validation message is about."""
    for pattern, name in _FIELD_HINTS:
        if pattern.search(message):
            return name
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (Xero sends whole seconds); None if absent/odd."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def _parse_body(text: str) -> Any:
    if not text or not text.strip():
        return None
    stripped = text.lstrip()
    if stripped[:1] not in "{[":
        return None
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return None


def _snippet(text: str) -> str:
    """A short, single-line, tag-free excerpt of a non-JSON body (e.g. an HTML outage page)."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    plain = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    plain = " ".join(plain.split())
    return plain[:200]


def element_errors(elements: Any, *, positional: bool = True) -> tuple[ElementError, ...]:
    """Per-element messages from Xero's `Elements` list (or any list of result elements)."""
    out: list[ElementError] = []
    if not isinstance(elements, list):
        return ()
    for index, element in enumerate(elements):
        if not isinstance(element, Mapping):
            continue
        messages = tuple(
            str(v.get("Message", ""))
            for v in element.get("ValidationErrors") or []
            if isinstance(v, Mapping)
        )
        warnings = tuple(
            str(v.get("Message", ""))
            for v in element.get("Warnings") or []
            if isinstance(v, Mapping)
        )
        ids = {
            k: str(v)
            for k, v in element.items()
            if k.endswith("ID") and isinstance(v, str) and v and not k.startswith("Tracking")
        }
        fields = {f for f in (field_from_message(m) for m in messages) if f}
        out.append(
            ElementError(
                index=index,
                messages=messages,
                warnings=warnings,
                field=fields.pop() if len(fields) == 1 else None,
                ids=ids,
            )
        )
    return tuple(out)


def _rate_limit_name(raw: str | None) -> str:
    if not raw:
        return "unknown"
    name = raw.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if name in {"minute", "minutelimit"}:
        return "minute"
    if name in {"day", "daily", "daylimit"}:
        return "day"
    if name.startswith("concurren"):
        return "concurrent"
    if name.startswith("appminute"):
        return "appminute"
    return "unknown"


# When Xero omits Retry-After (it does for the concurrent limit), a short, safe default.
_DEFAULT_RETRY_AFTER = {"concurrent": 1.0, "minute": 60.0, "appminute": 60.0, "unknown": 60.0}


def error_from_response(
    status: int,
    text: str,
    headers: Mapping[str, str],
    *,
    method: str | None = None,
    path: str | None = None,
) -> XeroError:
    """Build the right `XeroError` for an HTTP response that is not a success.

    Works on JSON from the Accounting API (`ValidationException`, problem-details 401/403),
    OAuth token endpoint errors (`{"error": "invalid_grant"}`), and non-JSON outage pages.
    """
    body = _parse_body(text)
    obj: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    correlation_id = _header(headers, "Xero-Correlation-Id") or _header(headers, "X-Correlation-Id")
    if correlation_id is None:
        for key in ("Id", "Instance"):
            if isinstance(obj.get(key), str) and obj.get(key):
                correlation_id = str(obj[key])
                break
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    common: dict[str, Any] = {
        "status": status,
        "body": body if body is not None else (text[:2000] if text else None),
        "headers": dict(headers),
        "correlation_id": correlation_id,
        "method": method,
        "path": path,
    }

    oauth_error = obj.get("error") if isinstance(obj.get("error"), str) else None
    detail = (
        obj.get("Detail") or obj.get("Message") or obj.get("error_description") or obj.get("Title")
    )
    message = str(detail) if detail else (_snippet(text) if text else f"HTTP {status}")
    problem = _header(headers, "X-Rate-Limit-Problem")

    if oauth_error:
        description = obj.get("error_description")
        msg = oauth_error + (f": {description}" if description else "")
        if oauth_error == "invalid_grant":
            return ReauthorizationRequired(
                f"refresh token no longer accepted ({msg}); connect the organisation again",
                **common,
            )
        if status == 429:
            return RateLimited(
                msg, limit=_rate_limit_name(problem), retry_after=retry_after, **common
            )
        if status >= 500:
            return ServerError(msg, retryable=status != 501, retry_after=retry_after, **common)
        if oauth_error == "invalid_scope":
            msg = f"Xero refused the scopes asked for ({msg}); XERO_SCOPES sets them"
        return AuthenticationError(msg, retryable=False, **common)

    if status == 429 or (status == 503 and problem):
        limit = _rate_limit_name(problem)
        if retry_after is None:
            retry_after = _DEFAULT_RETRY_AFTER.get(limit, 60.0)
        return RateLimited(
            f"over Xero's {limit} rate limit; retry after {retry_after:g}s",
            limit=limit,
            retry_after=retry_after,
            **common,
        )
    if status == 400:
        elements = element_errors(obj.get("Elements"))
        kind = obj.get("Type")
        text_msg = str(obj.get("Message") or message)
        if kind and kind != "ValidationException":
            text_msg = f"{kind}: {text_msg}"
        return ValidationError(text_msg, elements=elements, **common)
    if status == 401:
        token_expired = "tokenexpired" in message.replace(" ", "").lower()
        return AuthenticationError(message, retryable=token_expired, **common)
    if status == 403:
        hint = scopes.missing_scope_hint(path) if path else None
        if hint is None:
            return PermissionDenied(message, **common)
        need = scopes.need_for(path or "")
        return PermissionDenied(
            f"{message} — {hint}", needed_scope=need.scope if need else None, **common
        )
    if status == 404:
        return NotFound(message if detail else "resource not found", **common)
    if status >= 500:
        return ServerError(message, retryable=status != 501, retry_after=retry_after, **common)
    if status == 408:
        return XeroTimeout(message, retryable=True, may_have_applied=True, **common)
    return XeroError(message, retryable=False, **common)
