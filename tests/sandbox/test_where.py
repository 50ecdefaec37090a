"""The `where` parser on its own: operators, literals, paths, methods, errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from xerosync.sandbox.resources.common import day_reader, updated_reader
from xerosync.sandbox.where import Schema, WhereError, compile_where, field_types

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
        "Contact": {"ContactID": "aaaaaaaa-0000-4000-8000-000000000001", "Name": "Boom FM"},
        "_date": "2024-01-15",
        "_updated_ms": 1_700_000_000_000,
        "Reference": "PO 1",
    },
    {
        "Type": "ACCPAY",
        "Status": "AUTHORISED",
        "Total": 250.5,
        "SentToContact": True,
        "Contact": {"ContactID": "BBBBBBBB-0000-4000-8000-000000000002", "Name": "PowerDirect"},
        "_date": "2024-03-01",
        "_updated_ms": 1_710_000_000_000,
        "Reference": None,
    },
    {
        "Type": "ACCREC",
        "Status": "VOIDED",
        "Total": 99.0,
        "SentToContact": False,
        "Contact": {"ContactID": "cccccccc-0000-4000-8000-000000000003", "Name": "City Agency"},
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
        ('Contact.ContactID==guid("bbbbbbbb-0000-4000-8000-000000000002")', [1]),
        ('Contact.ContactID==Guid("AAAAAAAA-0000-4000-8000-000000000001")', [0]),
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
        ('Name=="back\\slash"', "back\\slash"),  # a backslash is a plain character
        ('Name=="\\u00e9"', "\\u00e9"),  # no escapes at all
    ],
)
def test_string_literals_keep_their_characters(text: str, name: str) -> None:
    predicate = compile_where(text, CONTACT)
    assert predicate({"Name": name})
    assert not predicate({"Name": name + "x"})


TYPED = Schema(
    "Invoice",
    SCHEMA.fields | {"IsSold", "InvoiceID"},
    {"Contact": CONTACT},
    SCHEMA.readers,
    field_types(
        SCHEMA.fields | {"IsSold", "InvoiceID"},
        numbers="Total",
        booleans="SentToContact IsSold",
        dates="Date UpdatedDateUTC",
        guids="InvoiceID",
        untyped="Contact",
    ),
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('Total=="abc"', "Operator '==' incompatible with operand types 'Decimal' and 'String'"),
        ('IsSold=="yes"', "Operator '==' incompatible with operand types 'Boolean' and 'String'"),
        ("IsSold==1", "Operator '==' incompatible with operand types 'Boolean' and 'Int32'"),
        ("Date==123", "Operator '==' incompatible with operand types 'DateTime?' and 'Int32'"),
        (
            'Date > "2024-01-01"',
            "Operator '>' incompatible with operand types 'DateTime?' and 'String'",
        ),
        ('"DRAFT"==Total', "Operator '==' incompatible with operand types 'String' and 'Decimal'"),
        ("Status==5", "Operator '==' incompatible with operand types 'String' and 'Int32'"),
        ('InvoiceID=="nope"', "Operator '==' incompatible with operand types 'Guid' and 'String'"),
        ('InvoiceID==guid("nope")', "Guid should contain 32 digits"),
        ('Total.Contains("1")', "No applicable method 'Contains' exists in type 'Decimal'"),
    ],
)
def test_wrong_type_is_refused(text: str, message: str) -> None:
    with pytest.raises(WhereError, match=re.escape(message)):
        compile_where(text, TYPED)


@pytest.mark.parametrize(
    "text",
    [
        "Total==10",
        "Total > 10.5",
        "Total == null",
        "IsSold==true",
        "Date >= DateTime(2024,1,1)",
        'InvoiceID==guid("aaaaaaaa-0000-4000-8000-000000000001")',
        'Status.ToLower()=="draft"',
        'Contact.Name=="Boom FM"',
    ],
)
def test_right_types_pass(text: str) -> None:
    compile_where(text, TYPED)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('Name=="say \\"hi\\""', "Syntax error"),  # Xero-Java #347: no backslash escape
        ('Name.Contains("say \\"hi\\"")', "No property or field 'hi' exists in type 'Contact'"),
        ('Name=="say ""hi"""', "a quote inside a string is not supported"),
        ('Name=="open', "Unterminated string literal"),
    ],
)
def test_quote_inside_a_string_is_refused(text: str, message: str) -> None:
    with pytest.raises(WhereError, match=re.escape(message)):
        compile_where(text, CONTACT)
