"""Xero's date forms, HTTP dates, and money that never passes through float."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xerosync.xero import codec


def test_ms_date_without_offset_is_utc() -> None:
    assert codec.parse_datetime("/Date(1439434356790)/") == datetime(
        2015, 8, 13, 2, 52, 36, 790000, tzinfo=UTC
    )


def test_ms_date_with_offset_keeps_the_instant_and_shows_the_zone() -> None:
    value = codec.parse_datetime("/Date(1551399321043+1300)/")
    assert value is not None
    assert value.utcoffset() == timedelta(hours=13)
    assert value == datetime(2019, 3, 1, 0, 15, 21, 43000, tzinfo=UTC)
    negative = codec.parse_datetime("/Date(1551399321043-0530)/")
    assert negative is not None and negative.utcoffset() == -timedelta(hours=5, minutes=30)
    assert negative == value


def test_negative_epochs() -> None:
    assert codec.parse_datetime("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=UTC)
    assert codec.parse_datetime("/Date(-2208988800000+0000)/") == datetime(1900, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-05T18:59:06Z", datetime(2019, 3, 5, 18, 59, 6, tzinfo=UTC)),
        ("2019-03-05T18:59:06", datetime(2019, 3, 5, 18, 59, 6, tzinfo=UTC)),
        (
            "2019-03-05T18:59:06.123+13:00",
            datetime(2019, 3, 5, 18, 59, 6, 123000, tzinfo=timezone(timedelta(hours=13))),
        ),
    ],
)
def test_iso_forms_are_aware(text: str, expected: datetime) -> None:
    value = codec.parse_datetime(text)
    assert value == expected and value is not None and value.tzinfo is not None


def test_dates() -> None:
    assert codec.parse_date("2024-02-29") == date(2024, 2, 29)
    assert codec.parse_date("2024-02-29T00:00:00") == date(2024, 2, 29)
    assert codec.parse_date("/Date(1709164800000+0000)/") == date(2024, 2, 29)
    assert codec.parse_date(None) is None
    assert codec.format_date(date(2024, 1, 5)) == "2024-01-05"


@pytest.mark.parametrize("bad", ["/Date(abc)/", "yesterday", "2024-13-01", 12])
def test_garbage_is_a_codec_error(bad: object) -> None:
    with pytest.raises(codec.CodecError):
        if bad == "2024-13-01":
            codec.parse_date(bad)
        else:
            codec.parse_datetime(bad)


@given(st.integers(min_value=-(10**13), max_value=10**13))
def test_ms_date_round_trips(millis: int) -> None:
    value = codec.parse_datetime(f"/Date({millis})/")
    assert value is not None
    assert codec.parse_datetime(codec.format_ms_date(value)) == value


def test_http_date_is_utc_to_the_second() -> None:
    value = datetime(2024, 5, 1, 12, 30, 45, 999999, tzinfo=timezone(timedelta(hours=2)))
    assert codec.http_date(value) == "Wed, 01 May 2024 10:30:45 GMT"


def test_money_is_decimal_both_ways() -> None:
    body = codec.loads('{"Total": 0.1, "Qty": 3, "Rate": 12.3450}')
    assert body["Total"] == Decimal("0.1") and isinstance(body["Total"], Decimal)
    assert codec.dumps({"Total": Decimal("0.10"), "When": date(2024, 1, 2)}) == (
        '{"Total": 0.10, "When": "2024-01-02"}'
    )
    assert codec.to_decimal(0.1) == Decimal("0.1")
    assert codec.to_decimal("12.50") == Decimal("12.50")


def test_canonical_json_is_order_and_trailing_zero_blind() -> None:
    a = codec.dumps({"b": Decimal("1.50"), "a": [1, {"y": 2, "x": Decimal("10")}]}, canonical=True)
    b = codec.dumps({"a": [1, {"x": Decimal("1E+1"), "y": 2}], "b": Decimal("1.5")}, canonical=True)
    assert a == b == '{"a":[1,{"x":10,"y":2}],"b":1.5}'
