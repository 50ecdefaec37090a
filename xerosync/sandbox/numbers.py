"""Numbers Xero cannot store: NaN, infinities and values past its decimal columns.

Xero keeps amounts as decimals. The spec states one bound, for `CurrencyRate`: "max length =
[18].[6]" (18 integer digits, 6 decimals). The sandbox applies the 18 integer digits to every
amount and quantity (its choice: Xero's bound for the others is unconfirmed) and the 6
decimals to `CurrencyRate` only — unit amounts are rounded to `unitdp` and line amounts to
cents, as Xero rounds them. NaN and ±Infinity (JSON's `NaN`/`Infinity` literals, which
Python's parser accepts, or strings such as "NaN" and "1e999" that parse to them) are never
numbers. Every such value is a validation error on its element, never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_INTEGER_DIGITS = 18
LIMIT = Decimal(10) ** MAX_INTEGER_DIGITS
"""An amount, quantity or computed line total must be below 10^18 in magnitude."""
RATE_DECIMALS = 6

NUMERIC_FIELDS = frozenset(
    {
        "Quantity",
        "UnitAmount",
        "TaxAmount",
        "LineAmount",
        "DiscountRate",
        "DiscountAmount",
        "CurrencyRate",
        "UnitPrice",
        "Discount",
        "Amount",
        "Total",
        "SubTotal",
        "TotalTax",
    }
)
"""Fields whose strings are read as numbers (elsewhere "NaN" is just text)."""


def as_decimal(value: Any) -> Decimal | None:
    """`value` as a Decimal if it is (or spells) a number; None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return Decimal("NaN")
    if isinstance(value, int | float | str):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            return None
    return None


def problem(name: str, value: Any) -> str | None:
    """The validation message for `value` in field `name`, or None when it is storable."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number (NaN and Infinity are not numbers)."
    if name not in NUMERIC_FIELDS or isinstance(value, bool):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= LIMIT:
            return too_large(name)
        return None
    number = as_decimal(value)
    if number is None:
        return None  # not a number at all: the resource's own checks answer that
    if not number.is_finite():
        return f"{name} must be a finite number (NaN and Infinity are not numbers)."
    if abs(number) >= LIMIT:
        return too_large(name)
    exponent = number.as_tuple().exponent
    if name == "CurrencyRate" and isinstance(exponent, int) and -exponent > RATE_DECIMALS:
        return f"CurrencyRate must not have more than {RATE_DECIMALS} decimal places."
    return None


def too_large(name: str) -> str:
    return f"{name} must be less than 10^{MAX_INTEGER_DIGITS} in magnitude."


def element_problems(element: Any) -> list[str]:
    """Every unstorable number in a request element (nested lines and details included)."""
    return list(dict.fromkeys(message for message in _walk(element, "Value")))


def _walk(value: Any, name: str) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _walk(inner, str(key))
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner, name)
    else:
        message = problem(name, value)
        if message is not None:
            yield message


def finite_only(value: Any) -> Any:
    """`value` with NaN/Infinity replaced by None, so an echoed element is valid JSON."""
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_only(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
