"""The Xero Accounting client: one session, a permit before every call, typed errors.

Every request: permit from the shared budget → access token → send (with a timeout) → give the
permit back and correct the budget from Xero's headers → on 401 get a new token once and try
once more → anything else that is not a success becomes a `XeroError` from one factory.

Reads are iterators over pages (`page`, `pageSize`, `order=UpdatedDateUTC ASC`, so saving a
cursor after each page is safe). Writes go in batches of at most 50 with
`summarizeErrors=false`, and every element's outcome is matched back to its input. Every
POST/PUT carries an `Idempotency-Key` derived from what is written, so a retry after a lost
response replays instead of writing twice (while Xero remembers the key: minutes).

A write never exceeds Xero's request size (3.5 MB, XERO_FACTS §5): batches are cut by their
encoded size as well as by count, and an element too large to send on its own comes back as an
ERROR result naming the record (never sent; sending it again cannot help).

Besides its organisation's budget, every call takes a permit from the app's (Xero's app-wide
minute limit across every organisation, `budget.app_limits`) when the client has one.

`on_exchange` sees every attempt (method, path, status, idempotency key, duration, error, bytes
on the wire) for audit rows, log lines and the spend ledger (`spend.py`); it never sees tokens
or the Authorization header.
"""

from __future__ import annotations

import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from urllib3.response import _get_decoder

from xerosync.xero import codec
from xerosync.xero.budget import Denial, Permit, RateBudget
from xerosync.xero.errors import (
    BudgetExhausted,
    ElementError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
    XeroError,
    XeroTimeout,
    element_errors,
    error_from_response,
)

log = logging.getLogger(__name__)

MAX_BATCH = 50
MAX_REQUEST_BYTES = 3_500_000
"""Xero's request size limit, 3.5 MB (the lower of the published figures, XERO_FACTS §5)."""
MAX_PAGE_SIZE = 1000
MAX_IDEMPOTENCY_KEY = 128
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

PAGED_RESOURCES = frozenset(
    {
        "Invoices",
        "Contacts",
        "CreditNotes",
        "BankTransactions",
        "ManualJournals",
        "Payments",
        "PurchaseOrders",
        "Prepayments",
        "Overpayments",
    }
)
"""Where Xero pages (everything else, e.g. Items, comes in one response)."""

COLLECTION_KEYS = {"Organisation": "Organisations"}
ID_FIELDS = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
    "BrandingThemes": "BrandingThemeID",
    "TrackingCategories": "TrackingCategoryID",
    "Currencies": "Code",
    "Organisation": "OrganisationID",
}
NATURAL_KEYS = {
    "Contacts": ("ContactNumber", "Name"),
    "Items": ("Code",),
    "Invoices": ("InvoiceNumber",),
    "CreditNotes": ("CreditNoteNumber",),
}


class TokenProvider(Protocol):
    """What the client needs from token handling (`auth.TokenManager` implements it)."""

    def access_token(self) -> str: ...

    def after_unauthorized(self, rejected_access_token: str) -> str: ...


@dataclass(frozen=True)
class Exchange:
    """One attempt at one request, for the caller's audit trail and logs. No secrets."""

    tenant_id: str | None
    method: str
    path: str
    query: str
    status: int | None
    duration: float
    idempotency_key: str | None
    priority: str
    attempt: int
    error: XeroError | None
    correlation_id: str | None
    elements: int | None = None
    body: Any = None
    """What a write sent (never a secret: tokens travel in headers only); None for reads."""
    bytes_sent: int = 0
    """Request body bytes sent (0 when the request never left)."""
    bytes_received: int = 0
    """Response body bytes as they came over the wire (the compressed size when gzipped)."""


class RequestTooLarge(ValidationError):
    """A request body over Xero's size limit: never sent, and sending it again cannot help."""

    def __init__(self, message: str, *, size: int, limit: int, **kw: Any) -> None:
        kw.setdefault("retryable", False)
        super().__init__(message, **kw)
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class XeroResponse:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Page:
    """One page of a read. `last` is True when no further page needs fetching."""

    number: int
    rows: list[dict[str, Any]]
    page_size: int
    last: bool
    item_count: int | None = None
    """Rows the whole read returns (Xero's `pagination.itemCount`; None when not given)."""
    date_time_utc: datetime | None = None
    """Xero's clock when it answered (the envelope's `DateTimeUTC`; None when not given)."""


@dataclass(frozen=True)
class ElementResult:
    """What became of one element of a write, in the order the elements were given."""

    index: int
    input: Mapping[str, Any]
    status: str
    """"OK", "WARNING" (saved, with warnings), "ERROR" (not saved) or "MISSING" (no answer)."""
    record: dict[str, Any] | None
    id: str | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    field: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("OK", "WARNING")


def idempotency_key(method: str, path: str, query: str | Mapping[str, Any], body: Any) -> str:
    """A key from method + path + canonical query + canonical body (71 chars).

    The same write always gets the same key, so retrying it within Xero's memory of keys
    replays the first answer instead of writing again.
    """
    query_text = (
        query
        if isinstance(query, str)
        else urlencode(sorted((str(k), _param(v)) for k, v in query.items() if v is not None))
    )
    digest = hashlib.sha256()
    for part in (method.upper(), path.rstrip("/"), query_text, codec.dumps(body, canonical=True)):
        encoded = part.encode()
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return f"xs1-{digest.hexdigest()}"


_derive_key = idempotency_key  # `request` has a parameter of the same name


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _answered_at(body: Mapping[str, Any]) -> datetime | None:
    """The envelope's `DateTimeUTC`, or None when absent or not a date."""
    try:
        return codec.parse_datetime(body.get("DateTimeUTC"))
    except ValueError:
        return None


def _read_body(response: requests.Response) -> int:
    """Read the whole body; return its size on the wire (compressed, when Xero gzipped it).

    The body is read here as it came and decoded after, not by requests: urllib3 counts the
    bytes of a chunked body nowhere (`raw.tell()` stays 0), and `content` is decoded. An answer
    already read (a test's session) is measured by Content-Length, else by its length."""
    raw = response.raw
    if not isinstance(raw, urllib3.response.HTTPResponse) or response._content is not False:
        length = _int_header(response.headers, "Content-Length")
        return length if length is not None and length >= 0 else len(response.content or b"")
    try:
        data = b"".join(raw.stream(64 * 1024, decode_content=False))
        encoding = (_header(response.headers, "Content-Encoding") or "").strip().lower()
        content = data
        if encoding and encoding != "identity":
            decoder = _get_decoder(encoding)
            content = decoder.decompress(data) + decoder.flush()
    except urllib3.exceptions.ReadTimeoutError as exc:
        response.close()
        raise requests.exceptions.ReadTimeout(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        response.close()
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except (urllib3.exceptions.HTTPError, OSError, zlib.error) as exc:
        response.close()
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    response._content = content
    response._content_consumed = True
    raw.release_conn()
    return len(data)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = _header(headers, name)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


class XeroClient:
    """Calls the Accounting API for one organisation.

    `api_url` is `<XERO_BASE_URL>/api.xro/2.0`. `tenant_id` goes in `xero-tenant-id` (None for
    a custom connection that does not need it). `budget` may be None only in tests; the
    budget key defaults to the tenant id. `app_budget` (keyed by `app_key`, the app's client
    id) is the app-wide minute budget every organisation's calls share. `max_request_bytes`
    is Xero's request size limit (lower in tests).
    """

    def __init__(
        self,
        *,
        api_url: str,
        tenant_id: str | None,
        tokens: TokenProvider,
        budget: RateBudget | None,
        budget_key: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
        user_agent: str = "xerosync/0.1",
        app_budget: RateBudget | None = None,
        app_key: str = "app",
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if max_request_bytes <= 0:
            raise ValueError("max_request_bytes must be above 0")
        self.api_url = api_url.rstrip("/")
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.budget = budget
        self.budget_key = budget_key or tenant_id or "default"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.on_exchange = on_exchange
        self.app_budget = app_budget
        self.app_key = app_key
        self.max_request_bytes = max_request_bytes
        self.session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
        self._base_path = urlsplit(self.api_url).path

    def __repr__(self) -> str:
        return f"XeroClient(api_url={self.api_url!r}, tenant_id={self.tenant_id!r})"

    # -- the one way out ------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        priority: str = "routine",
        idempotency_key: str | None = None,
        elements: int | None = None,
    ) -> XeroResponse:
        """Send one request (retrying once after a 401 with a new token) or raise XeroError."""
        method = method.upper()
        rel = path.strip("/")
        url = f"{self.api_url}/{rel}"
        query = urlencode([(k, _param(v)) for k, v in (params or {}).items() if v is not None])
        full_path = f"{self._base_path}/{rel}"
        data = None if json_body is None else codec.dumps(json_body).encode()
        if data is not None and len(data) > self.max_request_bytes:
            raise RequestTooLarge(
                f"request body is {len(data):,} bytes; Xero takes at most "
                f"{self.max_request_bytes:,} in one request",
                size=len(data),
                limit=self.max_request_bytes,
                method=method,
                path=full_path,
            )
        send_headers = dict(headers or {})
        if json_body is not None:
            send_headers["Content-Type"] = "application/json"
        if self.tenant_id:
            send_headers["xero-tenant-id"] = self.tenant_id
        if method in ("POST", "PUT", "PATCH"):
            if idempotency_key is None:
                idempotency_key = _derive_key(method, full_path, query, json_body)
            if len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
                raise ValueError(f"Idempotency-Key longer than {MAX_IDEMPOTENCY_KEY} characters")
            send_headers["Idempotency-Key"] = idempotency_key

        rejected: str | None = None
        for attempt in (1, 2):
            permit, app_permit = self._permits(priority)
            started = time.monotonic()
            response: requests.Response | None = None
            received = 0
            error: XeroError | None = None
            sent = True  # as far as the budget knows: the call may have reached Xero
            try:
                token = (
                    self.tokens.after_unauthorized(rejected)
                    if rejected
                    else self.tokens.access_token()
                )
                send_headers["Authorization"] = f"Bearer {token}"
                answer = self.session.request(
                    method,
                    url + (f"?{query}" if query else ""),
                    data=data,
                    headers=send_headers,
                    timeout=self.timeout,
                    stream=True,
                )
                received = _read_body(answer)
                response = answer
            except requests.ConnectTimeout:
                sent = False
                error = XeroTimeout("could not connect in time", method=method, path=full_path)
            except requests.Timeout:
                error = XeroTimeout(
                    f"no answer within {self.timeout:g}s",
                    may_have_applied=method != "GET",
                    method=method,
                    path=full_path,
                )
            except requests.RequestException as exc:
                error = TransportError(
                    f"connection failed ({type(exc).__name__})",
                    may_have_applied=method != "GET"
                    and not isinstance(exc, requests.exceptions.InvalidURL),
                    method=method,
                    path=full_path,
                )
            except XeroError as exc:  # token handling failed before anything was sent
                sent = False
                error = exc
            finally:
                send_headers.pop("Authorization", None)
                self._settle(permit, app_permit, response, sent)
            duration = time.monotonic() - started

            result: XeroResponse | None = None
            if response is not None:
                if response.status_code < 300:
                    try:
                        body = codec.loads(response.content) if response.content.strip() else None
                        result = XeroResponse(response.status_code, body, response.headers)
                    except ValueError:
                        error = ServerError(
                            "Xero answered with a body that is not JSON",
                            status=response.status_code,
                            method=method,
                            path=full_path,
                        )
                else:
                    error = error_from_response(
                        response.status_code,
                        response.text,
                        response.headers,
                        method=method,
                        path=full_path,
                    )
            if isinstance(error, RateLimited):
                self._close(error)
            self._observe(
                Exchange(
                    tenant_id=self.tenant_id,
                    method=method,
                    path=full_path,
                    query=query,
                    status=response.status_code if response is not None else None,
                    duration=duration,
                    idempotency_key=idempotency_key,
                    priority=priority,
                    attempt=attempt,
                    error=error,
                    correlation_id=(
                        _header(response.headers, "Xero-Correlation-Id")
                        if response is not None
                        else None
                    ),
                    elements=elements,
                    body=json_body if method != "GET" else None,
                    bytes_sent=len(data) if data is not None and sent else 0,
                    bytes_received=received,
                )
            )
            if result is not None:
                return result
            assert error is not None
            if response is not None and response.status_code == 401 and attempt == 1:
                rejected = token
                continue
            raise error
        raise AssertionError("unreachable")

    def _permits(self, priority: str) -> tuple[Permit | None, Permit | None]:
        """The organisation's permit, then the app's; if the app's is refused, the
        organisation's goes back uncounted (nothing was sent) and the refusal is raised."""
        permit = self.budget.acquire(self.budget_key, priority) if self.budget else None
        if self.app_budget is None:
            return permit, None
        outcome = self.app_budget.try_acquire(self.app_key, priority)
        if isinstance(outcome, Denial):
            if permit is not None and self.budget is not None:
                self.budget.release(permit, counted=False)
            dimension = (
                "appminute"
                if outcome.dimension in ("minute", "closed")
                else (f"app{outcome.dimension}")
            )
            raise BudgetExhausted(
                dimension=dimension, retry_after=outcome.retry_after, priority=priority
            )
        return permit, outcome

    def _settle(
        self,
        permit: Permit | None,
        app_permit: Permit | None,
        response: requests.Response | None,
        sent: bool,
    ) -> None:
        """Give the permits back with what the answer says about Xero's counts.

        Xero sends `X-MinLimit-Remaining` / `X-DayLimit-Remaining` (and
        `X-AppMinLimit-Remaining`) on every call its limiter let through; an answer without
        them (an outage page, a refused token) was not counted, and neither was a call that
        never left (no connection, no token). A call with no answer may have been counted:
        the budget counts it."""
        minute = day = app_minute = None
        if response is not None:
            minute = _int_header(response.headers, "X-MinLimit-Remaining")
            day = _int_header(response.headers, "X-DayLimit-Remaining")
            app_minute = _int_header(response.headers, "X-AppMinLimit-Remaining")
            sent = minute is not None or day is not None or app_minute is not None
        if permit is not None and self.budget is not None:
            self.budget.release(permit, min_remaining=minute, day_remaining=day, counted=sent)
        if app_permit is not None and self.app_budget is not None:
            self.app_budget.release(app_permit, min_remaining=app_minute, counted=sent)

    def _close(self, error: RateLimited) -> None:
        """After a 429, shut the budget whose limit Xero named until its `Retry-After`."""
        retry_after = error.retry_after or 1.0
        if error.limit == "appminute" and self.app_budget is not None:
            self.app_budget.close(self.app_key, retry_after, "minute")
        elif self.budget is not None:
            self.budget.close(self.budget_key, retry_after, error.limit)

    def _observe(self, exchange: Exchange) -> None:
        log.debug(
            "xero %s %s%s -> %s in %.3fs key=%s tenant=%s attempt=%d%s",
            exchange.method,
            exchange.path,
            f"?{exchange.query}" if exchange.query else "",
            exchange.status,
            exchange.duration,
            exchange.idempotency_key,
            exchange.tenant_id,
            exchange.attempt,
            f" error={type(exchange.error).__name__}" if exchange.error else "",
        )
        if self.on_exchange is not None:
            try:
                self.on_exchange(exchange)
            except Exception:  # an observer must never break the call it observes
                log.exception("on_exchange hook failed")

    # -- reads ----------------------------------------------------------------------------
    def pages(
        self,
        resource: str,
        *,
        modified_since: datetime | None = None,
        where: str | None = None,
        order: str | None = None,
        include_archived: bool | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        start_page: int = 1,
        priority: str = "routine",
    ) -> Iterator[Page]:
        """Pages of `resource` (one page for resources Xero does not page, e.g. Items).

        Stops after a page with fewer than `pageSize` rows (or at `pageCount` when given), so
        an exact multiple of `pageSize` costs one extra, empty page — Xero's own rule.
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        paged = resource in PAGED_RESOURCES
        key = COLLECTION_KEYS.get(resource, resource)
        query: dict[str, Any] = dict(params or {})
        if where:
            query["where"] = where
        if include_archived is not None:
            query["includeArchived"] = include_archived
        if paged:
            query["order"] = order or "UpdatedDateUTC ASC"
            query["pageSize"] = page_size
        elif order:
            query["order"] = order
        headers = {"If-Modified-Since": codec.http_date(modified_since)} if modified_since else {}
        number = start_page
        while True:
            if paged:
                query["page"] = number
            response = self.request(
                "GET", resource, params=query, headers=headers, priority=priority
            )
            body = response.body if isinstance(response.body, Mapping) else {}
            rows = [r for r in body.get(key) or [] if isinstance(r, dict)]
            answered_at = _answered_at(body)
            if not paged:
                yield Page(number, rows, len(rows), True, len(rows), answered_at)
                return
            raw_paging = body.get("pagination")
            pagination: Mapping[str, Any] = raw_paging if isinstance(raw_paging, Mapping) else {}
            size = int(pagination.get("pageSize") or page_size)
            count = pagination.get("pageCount")
            last = len(rows) < size or (count is not None and number >= int(count))
            items = pagination.get("itemCount")
            total = int(items) if items is not None else None
            yield Page(number, rows, size, last, total, answered_at)
            if last:
                return
            number += 1

    def rows(self, resource: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every row of `resource`, page after page (same arguments as `pages`)."""
        for page in self.pages(resource, **kwargs):
            yield from page.rows

    def get_all(self, resource: str, **kwargs: Any) -> list[dict[str, Any]]:
        return list(self.rows(resource, **kwargs))

    def get(
        self,
        resource: str,
        identifier: str,
        *,
        priority: str = "routine",
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One record by ID (or by number where Xero allows, e.g. a ContactNumber)."""
        response = self.request("GET", f"{resource}/{identifier}", params=params, priority=priority)
        body = response.body if isinstance(response.body, Mapping) else {}
        rows = body.get(COLLECTION_KEYS.get(resource, resource)) or []
        if not rows:
            raise NotFound(
                f"{resource}/{identifier} not found",
                status=response.status,
                path=f"{self._base_path}/{resource}/{identifier}",
                method="GET",
            )
        return dict(rows[0])

    # -- writes ---------------------------------------------------------------------------
    def save(
        self,
        resource: str,
        elements: Sequence[Mapping[str, Any]],
        *,
        method: str = "POST",
        priority: str = "routine",
        batch_size: int = MAX_BATCH,
        idempotency_key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> list[ElementResult]:
        """Create (PUT) or create-or-update (POST) elements in batches; one result per input.

        A batch holds at most `batch_size` elements and `max_request_bytes` of body; an element
        too large for any request is not sent and comes back as an ERROR result naming it.

        A failure of a whole request raises; calling again with the same elements re-sends the
        same batches with the same keys, so batches Xero already applied are replayed, not
        duplicated. A caller's own `idempotency_key` gets a batch suffix when there are several.
        """
        method = method.upper()
        if method not in ("POST", "PUT"):
            raise ValueError("writes are POST (create or update) or PUT (create)")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}")
        query = {**(params or {}), "summarizeErrors": False}
        batches, too_large = self._batches(resource, elements, batch_size)
        results: list[ElementResult | None] = [None] * len(elements)
        for index, size in too_large.items():
            results[index] = _too_large(
                resource, index, elements[index], size, self.max_request_bytes
            )
        for number, batch in enumerate(batches):
            key = idempotency_key
            if key is not None and len(batches) > 1:
                suffix = f"-b{number}"
                if len(key) + len(suffix) > MAX_IDEMPOTENCY_KEY:
                    key = hashlib.sha256(key.encode()).hexdigest()
                key += suffix
            sent = [elements[i] for i in batch]
            response = self.request(
                method,
                resource,
                params=query,
                json_body={resource: sent},
                priority=priority,
                idempotency_key=key,
                elements=len(sent),
            )
            body = response.body if isinstance(response.body, Mapping) else {}
            returned = [r for r in body.get(resource) or [] if isinstance(r, Mapping)]
            for r in match_results(resource, sent, returned):
                results[batch[r.index]] = ElementResult(
                    index=batch[r.index],
                    input=r.input,
                    status=r.status,
                    record=r.record,
                    id=r.id,
                    errors=r.errors,
                    warnings=r.warnings,
                    field=r.field,
                )
        return [r for r in results if r is not None]

    def _batches(
        self, resource: str, elements: Sequence[Mapping[str, Any]], batch_size: int
    ) -> tuple[list[list[int]], dict[int, int]]:
        """Input positions cut into batches of at most `batch_size` elements whose body
        (`{"<resource>": [...]}`, as `request` encodes it) stays within `max_request_bytes`;
        and the elements too large to go even alone, with their size alone in a body."""
        envelope = len(codec.dumps({resource: []}).encode())
        separator = len(codec.dumps([0, 0])) - len(codec.dumps([0])) - len(codec.dumps(0))
        batches: list[list[int]] = []
        too_large: dict[int, int] = {}
        current: list[int] = []
        size = envelope
        for index, element in enumerate(elements):
            own = len(codec.dumps(element).encode())
            if envelope + own > self.max_request_bytes:
                too_large[index] = envelope + own
                continue
            grown = size + own + (separator if current else 0)
            if current and (len(current) >= batch_size or grown > self.max_request_bytes):
                batches.append(current)
                current, grown = [], envelope + own
            current.append(index)
            size = grown
        if current:
            batches.append(current)
        return batches, too_large


def _too_large(
    resource: str, index: int, element: Mapping[str, Any], size: int, limit: int
) -> ElementResult:
    """The result of an element too large for any request: an error naming the record."""
    name = next(
        (
            f"{key} {element[key]!r}"
            for key in (*NATURAL_KEYS.get(resource, ()), ID_FIELDS.get(resource, ""), "Reference")
            if key and element.get(key)
        ),
        f"element {index}",
    )
    message = (
        f"{resource} {name} is {size:,} bytes as JSON; Xero takes at most {limit:,} bytes in one "
        "request, so it was not sent (make it smaller, e.g. fewer lines or shorter texts)"
    )
    return ElementResult(index, element, "ERROR", None, None, errors=(message,))


def _element_status(element: Mapping[str, Any], problem: ElementError) -> str:
    status = str(element.get("StatusAttributeString") or "").upper()
    if status in ("OK", "WARNING", "ERROR"):
        return status
    if problem.messages or element.get("HasErrors") or element.get("HasValidationErrors"):
        return "ERROR"
    return "WARNING" if problem.warnings else "OK"


def _record_id(resource: str, element: Mapping[str, Any]) -> str | None:
    field = ID_FIELDS.get(resource)
    value = element.get(field) if field else None
    return str(value) if value and value != ZERO_GUID else None


def match_results(
    resource: str, inputs: Sequence[Mapping[str, Any]], returned: Sequence[Mapping[str, Any]]
) -> list[ElementResult]:
    """Pair each input element with Xero's answer for it.

    With `summarizeErrors=false` Xero answers one element per input, in order. If the counts
    differ, elements are paired by ID, then by natural key (ContactNumber/Name, Code,
    InvoiceNumber...); inputs left without an answer come back as "MISSING".
    """
    problems = element_errors(list(returned))
    if len(returned) == len(inputs):
        pairs: list[tuple[int, int | None]] = [(i, i) for i in range(len(inputs))]
    else:
        pairs = []
        used: set[int] = set()
        id_field = ID_FIELDS.get(resource)
        keys = ((id_field,) if id_field else ()) + NATURAL_KEYS.get(resource, ())
        for i, item in enumerate(inputs):
            found: int | None = None
            for key in keys:
                wanted = item.get(key)
                if not wanted:
                    continue
                for j, element in enumerate(returned):
                    if j not in used and element.get(key) == wanted:
                        found = j
                        break
                if found is not None:
                    break
            if found is not None:
                used.add(found)
            pairs.append((i, found))
    out: list[ElementResult] = []
    for index, answer in pairs:
        if answer is None:
            out.append(
                ElementResult(
                    index,
                    inputs[index],
                    "MISSING",
                    None,
                    None,
                    errors=("Xero returned no result for this element",),
                )
            )
            continue
        element, problem = returned[answer], problems[answer]
        out.append(
            ElementResult(
                index=index,
                input=inputs[index],
                status=_element_status(element, problem),
                record=dict(element),
                id=_record_id(resource, element),
                errors=problem.messages,
                warnings=problem.warnings,
                field=problem.field,
            )
        )
    return out


__all__ = [
    "MAX_BATCH",
    "MAX_REQUEST_BYTES",
    "PAGED_RESOURCES",
    "ElementResult",
    "Exchange",
    "Page",
    "RequestTooLarge",
    "TokenProvider",
    "XeroClient",
    "XeroResponse",
    "idempotency_key",
    "match_results",
]
