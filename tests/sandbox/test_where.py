"""The `where` parser on its own: operators, literals, paths, methods, errors."""

from __future__ import annotations

from typing import Any

import pytest

from xerosync.sandbox.resources.common import day_reader, updated_reader
from xerosync.sandbox.where import Schema, WhereError, compile_where

CONTACT = Schema("Contact", frozenset({"ContactID", "Name"}), {}, {})
SCHEMA = Schema(
    "Invoice",
    frozenset(
        {
            "Type",
            "Status",
            "Total",
            "Contact",
            "Date",
            "UpdatedDateUTC",
            "SentToContact",
            "Reference",
        }
    ),
    {"Contact": CONTACT},
    {"Date": day_reader("_date"), "UpdatedDateUTC": updated_reader},
)
ROWS: list[dict[str, Any]] = [
    {
        "Type": "ACCREC",
        "Status": "DRAFT",
        "Total": 10.0,
        "SentToContact": False,
        "Contact": {"ContactID": "aaaa-1", "Name": "Boom FM"},
        "_date": "2024-01-15",
        "_updated_ms": 1_700_000_000_000,
        "Reference": "PO 1",
    },
    {
        "Type": "ACCPAY",
        "Status": "AUTHORISED",
        "Total": 250.5,
        "SentToContact": True,
        "Contact": {"ContactID": "BBBB-2", "Name": "PowerDirect"},
        "_date": "2024-03-01",
        "_updated_ms": 1_710_000_000_000,
        "Reference": None,
    },
    {
        "Type": "ACCREC",
        "Status": "VOIDED",
        "Total": 99.0,
        "SentToContact": False,
        "Contact": {"ContactID": "cccc-3", "Name": "City Agency"},
        "_date": "2023-12-31",
        "_updated_ms": 1_690_000_000_000,
        "Reference": "po 2",
    },
]


def matches(text: str) -> list[int]:
    predicate = compile_where(text, SCHEMA)
    return [i for i, row in enumerate(ROWS) if predicate(row)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Type=="ACCREC"', [0, 2]),
        ('Type != "ACCREC"', [1]),
        ("Total > 50", [1, 2]),
        ("Total >= 99 && Total <= 99", [2]),
        ("Total < 11", [0]),
        ('Type=="ACCREC" AND Status!="VOIDED"', [0]),
        ('Status=="DRAFT" OR Status=="VOIDED"', [0, 2]),
        ('(Status=="DRAFT" || Status=="AUTHORISED") and Type=="ACCREC"', [0]),
        ('NOT (Type=="ACCREC")', [1]),
        ("SentToContact==true", [1]),
        ("SentToContact == false", [0, 2]),
        ('Contact.ContactID==guid("BBBB-2")', [1]),
        ('Contact.ContactID==Guid("AAAA-1")', [0]),
        ('Contact.Name.Contains("FM")', [0]),
        ('Contact.Name.StartsWith("Power")', [1]),
        ('Reference.ToLower()=="po 1"', [0]),
        ("Reference == null", [1]),
        ("Date >= DateTime(2024,01,01)", [0, 1]),
        ("Date < DateTime(2024, 1, 1)", [2]),
        ("UpdatedDateUTC > DateTime(2023,11,20,0,0,0)", [1]),
    ],
)
def test_where_semantics(text: str, expected: list[int]) -> None:
    assert matches(text) == expected


@pytest.mark.parametrize("text", ['Bogus=="x"', 'Contact.Bogus=="x"'])
def test_unknown_field_is_named(text: str) -> None:
    with pytest.raises(WhereError, match="No property or field 'Bogus' exists in type"):
        compile_where(text, SCHEMA)


@pytest.mark.parametrize(
    "text", ['Type=="ACCREC" AND', '(Type=="x"', "Type ~ 3", 'Name.Frobnicate("x")']
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(WhereError):
        compile_where(text, SCHEMA)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('Name=="Café Ü"', "Café Ü"),  # non-ASCII text as written, not read as Latin-1
        ('Name.ToLower()=="zoë & søn"', "Zoë & Søn"),
        ('Name=="say \\"hi\\""', 'say "hi"'),  # the escapes the sandbox already knew
        ('Name=="back\\\\slash"', "back\\slash"),
        ('Name=="\\u00e9t\\u00e9"', "été"),
    ],
)
def test_string_literals_keep_their_characters(text: str, name: str) -> None:
    predicate = compile_where(text, CONTACT)
    assert predicate({"Name": name})
    assert not predicate({"Name": name + "x"})
