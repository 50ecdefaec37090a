"""Odd CRM data, as reps and imports really produce it, for the property-based tests.

Every value fits the CRM's own columns (a database would refuse anything else before
xerosync saw it); inside those limits anything goes: unicode, blanks, whitespace only,
fields longer than Xero takes, bad emails, currencies nobody has, negative and huge numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
"""Few examples, the same ones on every run (`derandomize`), no example database."""

# Printable unicode and some hostile extras; no surrogates (not encodable as UTF-8).
_CHARS = st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\x00"
)


def text(max_size: int) -> st.SearchStrategy[str]:
    """Any text up to `max_size`, with blanks, padding and Xero-breaking lengths likely."""
    return st.one_of(
        st.text(_CHARS, max_size=min(max_size, 40)),
        st.sampled_from(["", " ", "   \t ", "Ünïcødé Ltd 🚀", "名前株式会社", "O'Brien & Sons"]),
        st.builds(lambda n: "x" * n, st.integers(max(0, max_size - 300), max_size)),
    )


def optional_text(max_size: int) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), text(max_size))


emails = st.one_of(
    st.none(),
    st.emails().filter(lambda e: len(e) <= 255),
    st.sampled_from(["not-an-email", "a@b", "ünï@exämple.com", "@example.com", " x@y.com "]),
    text(255),
)
currencies = st.one_of(
    st.none(),
    st.sampled_from(["AUD", "USD", "NZD", "aud", "XYZ", "ZZZ", "", " ", "€"]),
    st.text(_CHARS, max_size=3),
)
tax_types = st.one_of(st.none(), st.sampled_from(["OUTPUT", "EXEMPTOUTPUT", "BOGUS", "", "output"]))
account_codes = st.one_of(st.none(), st.sampled_from(["200", "260", "999", "", "ABCDEFGHIJ"]))

# Numeric(18, 4): whatever the CRM can hold, including negative and huge amounts.
_LIMIT = Decimal("99999999999999")
quantities = st.one_of(
    st.decimals(min_value=-_LIMIT, max_value=_LIMIT, places=4, allow_nan=False),
    st.sampled_from([Decimal(0), Decimal(-1), Decimal("0.0001"), _LIMIT]),
)
prices = st.decimals(min_value=-_LIMIT, max_value=_LIMIT, places=4, allow_nan=False)
rates = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"), places=4,
                allow_nan=False),
)


def customer_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "name": text(255),
            "email": emails,
            "default_currency": currencies,
            "tax_type": tax_types,
            "tax_number": optional_text(50),
            "phone": optional_text(50),
            "address_line1": optional_text(500),
            "city": optional_text(255),
            "postal_code": optional_text(50),
            "country": optional_text(50),
            "first_name": optional_text(255),
            "last_name": optional_text(255),
            "is_active": st.booleans(),
        }
    )


def product_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "code": text(64),
            "name": text(255),
            "description": optional_text(5000),
            "sales_unit_price": st.one_of(st.none(), prices),
            "sales_account_code": account_codes,
            "sales_tax_type": tax_types,
            "is_tracked": st.booleans(),
        }
    )


def line_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "description": optional_text(5000),
            "quantity": quantities,
            "unit_price": prices,
            "discount_rate": rates,
            "account_code": account_codes,
            "tax_type": tax_types,
            "with_product": st.booleans(),
        }
    )


def order_fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "currency": currencies,
            "customer_reference": optional_text(255),
            "delivery_charge": st.one_of(st.none(), prices),
            "lines": st.one_of(
                st.lists(line_fields(), min_size=0, max_size=4),
                # many lines: the same odd line repeated
                st.builds(lambda line, n: [line] * n, line_fields(), st.integers(50, 120)),
            ),
        }
    )
