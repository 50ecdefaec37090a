"""Xero's wire formats: `/Date(ms±zzzz)/` and ISO dates, HTTP dates, money as Decimal, JSON.

Money never passes through float: JSON is parsed with `parse_float=Decimal` and written by
`dumps`, which emits a Decimal's exact digits. `dumps(..., canonical=True)` sorts keys and
drops whitespace so equal payloads give equal bytes (the idempotency key is derived from it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{2})(\d{2}))?\)/$")


class CodecError(ValueError):
    """A value is not in any of the forms Xero uses."""


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from `/Date(ms±zzzz)/`, ISO-8601 text, or a datetime; None stays None.

    In `/Date(ms+zzzz)/` the milliseconds are the instant since the Unix epoch (UTC, may be
    negative) and the offset only says in which zone to show it, so the result is that instant
    expressed in that offset. ISO text without an offset is taken as UTC (Xero's `...UTC`
    fields and `UpdatedDateUTCString` are UTC).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise CodecError(f"not a Xero date: {value!r}")
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        millis, sign, hh, mm = match.groups()
        try:
            instant = _EPOCH + timedelta(milliseconds=int(millis))
            if sign is None:
                return instant
            offset = timedelta(hours=int(hh), minutes=int(mm))
            return instant.astimezone(timezone(-offset if sign == "-" else offset))
        except (OverflowError, ValueError):  # beyond the years 1-9999 a datetime holds
            raise CodecError(f"a Xero date outside the years 1-9999: {value!r}") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except (ValueError, OverflowError):
        raise CodecError(f"not a Xero date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    """A calendar date from `YYYY-MM-DD`, `YYYY-MM-DDT00:00:00` or `/Date(...)/`.

    For `/Date(...)/` the date is read in the offset Xero gave (UTC when none), which is how
    Xero encodes org-local dates such as an invoice's `Date`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise CodecError(f"not a Xero date: {value!r}") from None
    parsed = parse_datetime(value)
    return parsed.date() if parsed else None


def format_date(value: date | datetime) -> str:
    """`YYYY-MM-DD`, the form Xero wants for `Date` and `DueDate`."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def format_datetime_iso(value: datetime) -> str:
    """UTC ISO-8601 to the second (naive datetimes are taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")


def format_ms_date(value: datetime) -> str:
    """`/Date(ms+0000)/` for a datetime (naive is UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    millis = (aware - _EPOCH) // timedelta(milliseconds=1)
    return f"/Date({millis}+0000)/"


def http_date(value: datetime) -> str:
    """RFC 7231 HTTP-date in UTC, to the second: the `If-Modified-Since` form.

    Fractions are cut (not rounded up) so that a record updated in the same second as the
    cursor is read again rather than missed.
    """
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return format_datetime(aware.astimezone(UTC).replace(microsecond=0), usegmt=True)


def to_decimal(value: Any) -> Decimal | None:
    """Money or quantity as Decimal; floats go through their shortest repr, never binary."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise CodecError(f"not a number: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise CodecError(f"not a number: {value!r}") from None


def loads(text: str | bytes) -> Any:
    """Parse JSON with every non-integer number as Decimal."""
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any, *, canonical: bool = False) -> str:
    """JSON text with Decimals written exactly, dates as `YYYY-MM-DD`, datetimes ISO UTC.

    `canonical=True`: keys sorted, no whitespace, Decimals normalised (`1.50` == `1.5`), so the
    same content always gives the same text.
    """
    parts: list[str] = []
    _encode(value, parts, canonical)
    return "".join(parts)


def _encode(value: Any, out: list[str], canonical: bool) -> None:
    if value is None or isinstance(value, (bool, int, str)):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise CodecError(f"cannot send {value} to Xero")
        number = value.normalize() if canonical else value
        text = format(number, "f")
        if canonical and "." in text:
            text = text.rstrip("0").rstrip(".")
        out.append(text if text not in {"-0", ""} else "0")
    elif isinstance(value, float):
        out.append(_decimal_text(value))
    elif isinstance(value, datetime):
        out.append(json.dumps(format_datetime_iso(value)))
    elif isinstance(value, date):
        out.append(json.dumps(format_date(value)))
    elif isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0])) if canonical else value.items()
        sep = ":" if canonical else ": "
        out.append("{")
        for i, (key, item) in enumerate(items):
            if i:
                out.append("," if canonical else ", ")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(sep)
            _encode(item, out, canonical)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append("," if canonical else ", ")
            _encode(item, out, canonical)
        out.append("]")
    else:
        raise CodecError(f"cannot encode {type(value).__name__} as JSON")


def _decimal_text(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise CodecError(f"cannot send {value} to Xero")
    return repr(value)
