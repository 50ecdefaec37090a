"""What every resource shares: the request context, listing (where, order, paging,
If-Modified-Since) and batch writes with Xero's `summarizeErrors` semantics."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from xerosync.sandbox import errors, numbers
from xerosync.sandbox.config import SandboxConfig
from xerosync.sandbox.dates import iso_from_ms, msdate, parse_if_modified_since
from xerosync.sandbox.store import Collection, Record, Tenant
from xerosync.sandbox.where import Schema, WhereError, compile_where

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
UNPAGED_ROW_LIMIT = 100_000


@dataclass
class Ctx:
    """One API request as a resource handler sees it."""

    tenant: Tenant
    client_id: str
    now: float
    config: SandboxConfig
    args: MultiDict[str, str]
    headers: Mapping[str, str]
    body: Any = None
    method: str = "GET"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def now_ms(self) -> int:
        return int(self.now * 1000)

    def flag(self, name: str) -> bool:
        return self.args.get(name, "").strip().lower() == "true"

    def stamp(self, record: Record) -> None:
        """Bump UpdatedDateUTC (and its string twin where the resource has one)."""
        ms = self.tenant.stamp(self.now_ms)
        record["_updated_ms"] = ms
        record["UpdatedDateUTC"] = msdate(ms)
        if "UpdatedDateUTCString" in record or record.get("_has_utc_string"):
            record["UpdatedDateUTCString"] = iso_from_ms(ms)


class ElementError(Exception):
    """Validation failures of one batch element; the element is not saved."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def public(record: Record) -> Record:
    """A stored record without the sandbox's private (`_`-prefixed) keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def updated_reader(record: Mapping[str, Any]) -> Any:
    ms = record.get("_updated_ms")
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def day_reader(key: str) -> Callable[[Mapping[str, Any]], Any]:
    def read(record: Mapping[str, Any]) -> Any:
        value = record.get(key)
        return None if not value else datetime.fromisoformat(value).replace(tzinfo=UTC)

    return read


def parse_order(text: str, schema: Schema) -> list[tuple[str, bool]]:
    """`"Name ASC, UpdatedDateUTC DESC"` → [(field, descending)]."""
    result: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        name = words[0]
        direction = words[1].upper() if len(words) > 1 else "ASC"
        if name not in schema.fields or direction not in ("ASC", "DESC") or len(words) > 2:
            raise errors.query_parse(
                f"No property or field '{name}' exists in type '{schema.type_name}'"
                if name not in schema.fields
                else f"Syntax error in order clause '{text}'"
            )
        result.append((name, direction == "DESC"))
    return result


def _sort(records: list[Record], order: list[tuple[str, bool]], schema: Schema) -> list[Record]:
    if not order or order == [("UpdatedDateUTC", False)]:
        return records  # collections are kept in UpdatedDateUTC order
    for name, descending in reversed(order):
        reader = schema.readers.get(name) or (lambda n: lambda r: r.get(n))(name)

        def key(record: Record, read: Callable[[Mapping[str, Any]], Any] = reader) -> Any:
            value = read(record)
            if isinstance(value, str):
                value = value.lower()
            return (value is not None, value) if value is not None else (False, 0)

        def text_key(record: Record, read: Callable[[Mapping[str, Any]], Any] = reader) -> str:
            return str(read(record))

        try:
            records = sorted(records, key=key, reverse=descending)
        except TypeError:
            records = sorted(records, key=text_key, reverse=descending)
    return records


def query(
    ctx: Ctx,
    collection: Collection,
    schema: Schema,
    *,
    base: Callable[[Record], bool] | None = None,
    base_key: Any = None,
) -> list[Record]:
    """Records matching If-Modified-Since, `where`, the resource's own filters, in `order`."""
    ims = parse_if_modified_since(ctx.headers.get("If-Modified-Since", ""))
    where = ctx.args.get("where", "").strip()
    order_text = ctx.args.get("order", "").strip()
    order = parse_order(order_text, schema) if order_text else []
    try:
        predicate = compile_where(where, schema) if where else None
    except WhereError as exc:
        raise errors.query_parse(str(exc)) from None

    def compute() -> list[Record]:
        rows: Iterable[Record] = collection
        if ims is not None:
            rows = (r for r in rows if r["_updated_ms"] >= ims)
        if base is not None:
            rows = (r for r in rows if base(r))
        if predicate is not None:
            rows = (r for r in rows if predicate(r))
        return _sort(list(rows), order, schema)

    return collection.query((ims, where, order_text, base_key), compute)


def page_of(ctx: Ctx, rows: list[Record]) -> tuple[list[Record], dict[str, int] | None]:
    """Apply `page`/`pageSize` (default 100, capped at 1000) when `page` is given."""
    raw_page = ctx.args.get("page")
    if raw_page is None:
        if len(rows) > UNPAGED_ROW_LIMIT:
            raise errors.validation(
                "Your request is not filtering efficiently. Please use paging or filters."
            )
        return rows, None
    try:
        page = max(1, int(raw_page))
    except ValueError:
        page = 1
    try:
        size = int(ctx.args.get("pageSize", DEFAULT_PAGE_SIZE))
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    size = min(MAX_PAGE_SIZE, max(1, size))
    start = (page - 1) * size
    count = len(rows)
    pagination = {
        "page": page,
        "pageSize": size,
        "pageCount": (count + size - 1) // size,
        "itemCount": count,
    }
    return rows[start : start + size], pagination


MAX_LIST_ENTRIES = 52
"""Xero answers 52 GUIDs in `IDs` and 404s 53 — even the same GUID 53 times (xero-node #404,
Xero-Java #328, XERO_FACTS §4): the gateway's query length, not a count."""
MAX_LIST_CHARS = MAX_LIST_ENTRIES * 36 + (MAX_LIST_ENTRIES - 1)
"""1,923: the length of 52 comma-separated GUIDs; a longer list of short values
(InvoiceNumbers) is refused as Xero's length limit would refuse it."""


def id_list(ctx: Ctx, name: str) -> set[str] | None:
    """A comma list (`IDs`, `InvoiceNumbers`, `ContactIDs`, `Statuses`; repeated parameters
    joined, as some SDKs send them). Past Xero's limit it is Xero's 404, as Xero does."""
    raw = ",".join(v for v in ctx.args.getlist(name) if v)
    if not raw:
        return None
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if len(parts) > MAX_LIST_ENTRIES or len(raw) > MAX_LIST_CHARS:
        raise errors.not_found()
    return {part.lower() for part in parts}


def elements_of(body: Any, collection: str) -> list[Any]:
    """A write body: `{"Contacts": [...]}` or a single element object."""
    if isinstance(body, dict) and collection in body:
        items = body[collection]
        if not isinstance(items, list):
            raise errors.validation(f"{collection} must be an array")
        return items
    if isinstance(body, dict):
        return [body]
    if isinstance(body, list):
        return body
    raise errors.validation("The request body could not be read as JSON.")


def run_batch(
    ctx: Ctx,
    elements: list[Any],
    collection: str,
    apply: Callable[[Record], Record],
    render: Callable[[Record], Record],
    *,
    id_field: str,
    error_flag: str,
) -> tuple[int, Record]:
    """Apply each element; report per Xero's `summarizeErrors` rules.

    `summarizeErrors=false`: 200, every element with `StatusAttributeString` and its own
    `ValidationErrors`. Otherwise (Xero's real default, whatever the spec says): 400 listing
    only the failures — while the valid elements are still saved, as Xero does.
    """
    summarize = ctx.args.get("summarizeErrors", "true").strip().lower() != "false"
    results: list[Record] = []
    failures: list[Record] = []
    for element in elements:
        if not isinstance(element, dict):
            element = {}
        try:
            unstorable = numbers.element_problems(element)
            if unstorable:
                raise ElementError(unstorable)
            saved = apply(element)
        except ElementError as exc:
            echo = {k: v for k, v in numbers.finite_only(element).items() if not k.startswith("_")}
            echo.setdefault(id_field, ZERO_GUID)
            echo["StatusAttributeString"] = "ERROR"
            echo[error_flag] = True
            echo["ValidationErrors"] = [{"Message": m} for m in exc.messages]
            results.append(echo)
            failures.append(echo)
            continue
        out = render(saved)
        out["StatusAttributeString"] = "OK"
        results.append(out)
    if failures and summarize:
        return 400, errors.validation_body(failures)
    return 200, {collection: results}


def new_id() -> str:
    return str(uuid.uuid4())


def check_length(
    messages: list[str],
    data: Mapping[str, Any],
    field_name: str,
    limit: int,
    label: str | None = None,
) -> None:
    value = data.get(field_name)
    if isinstance(value, str) and len(value) > limit:
        messages.append(f"{label or field_name} must not be more than {limit} characters long.")
