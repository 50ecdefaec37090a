"""Xero's date forms: `/Date(ms+0000)/` for timestamps, `YYYY-MM-DD` for document dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

_MSDATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def msdate(ms: int) -> str:
    """Xero's JSON timestamp form, always UTC."""
    return f"/Date({ms}+0000)/"


def iso_from_ms(ms: int) -> str:
    """ISO-8601 UTC to the second, as in `UpdatedDateUTCString`."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_to_ms(day: str) -> int:
    """Midnight UTC of a `YYYY-MM-DD` day, in epoch milliseconds."""
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)


def date_fields(day: str | None, prefix: str) -> dict[str, str]:
    """The pair Xero returns for a document date: `/Date()/` and `...String`."""
    if not day:
        return {}
    return {prefix: msdate(date_to_ms(day)), f"{prefix}String": f"{day}T00:00:00"}


def today(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def add_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def parse_input_date(value: object) -> str:
    """Accept `YYYY-MM-DD`, ISO date-times and `/Date(ms)/`; return `YYYY-MM-DD` or raise."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a date")
    m = _MSDATE.match(value)
    if m:
        return datetime.fromtimestamp(int(m.group(1)) / 1000, UTC).date().isoformat()
    return date.fromisoformat(value[:10]).isoformat()


def parse_if_modified_since(value: str) -> int | None:
    """The `If-Modified-Since` header as epoch ms truncated to the second (Xero's precision).

    Xero clients send either an HTTP date or an ISO-8601 UTC timestamp; both are accepted.
    An unparseable value is ignored, as a cache header would be.
    """
    value = value.strip()
    if not value:
        return None
    moment: datetime | None = None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            m = _MSDATE.match(value)
            if not m:
                return None
            return int(m.group(1)) // 1000 * 1000
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1000


def connection_time(now: float) -> str:
    """The identity service's `createdDateUtc` form, e.g. `2019-12-07T18:46:19.5165400`."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"
