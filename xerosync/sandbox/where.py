"""A small, real parser for Xero's `where` filter language (a Dynamic LINQ subset).

Supported: `==`, `!=`, `<`, `>`, `<=`, `>=`, `AND`/`&&`, `OR`/`||`, `NOT`/`!`, parentheses,
strings, numbers, `true`/`false`/`null`, `guid("…")`/`Guid("…")`, `DateTime(y,m,d[,h,mi,s])`,
dotted paths (`Contact.ContactID`) and the string methods `Contains`, `StartsWith`,
`EndsWith`, `ToLower`, `ToUpper`. The result is a compiled predicate, so a filter over 100k
records costs one Python call per record.

Strict where Xero is strict (Xero's messages are those of the original Dynamic LINQ parser):
an unknown field, a field compared with a literal of another type (`Total=="abc"`,
`IsSold=="yes"`, `Date=="2024-01-01"`, a GUID field with a non-GUID), and a quote inside a
string (`\"` or `""`: backslashes are plain characters there) all raise `WhereError`,
which the caller turns into Xero's 400 QueryParseException.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

Record = Mapping[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]


def fieldset(names: str | Iterable[str]) -> frozenset[str]:
    """Field names from a list or a whitespace-separated string."""
    return frozenset(names.split() if isinstance(names, str) else names)


class WhereError(ValueError):
    """The filter could not be parsed or names a field the resource does not have."""


NUMBER, BOOLEAN, DATE, GUID, STRING = "Decimal", "Boolean", "DateTime", "Guid", "String"
"""Field types as Dynamic LINQ names them in its messages."""


@dataclass(frozen=True)
class Schema:
    """What a `where` may name: field names, nested types, how to read special fields and
    each field's type (a field without one is not type-checked, e.g. arrays)."""

    type_name: str
    fields: frozenset[str]
    nested: Mapping[str, Schema]
    readers: Mapping[str, Getter]
    types: Mapping[str, str] = field(default_factory=dict)


def field_types(
    fields: Iterable[str],
    *,
    numbers: str = "",
    booleans: str = "",
    dates: str = "",
    guids: str = "",
    untyped: str = "",
) -> dict[str, str]:
    """Types for `fields`: those named in a group get its type, `untyped` (objects, arrays)
    none, every other field is a String."""
    groups = {NUMBER: numbers, BOOLEAN: booleans, DATE: dates, GUID: guids}
    typed = {name: kind for kind, names in groups.items() for name in names.split()}
    skip = set(untyped.split())
    return {name: typed.get(name, STRING) for name in fields if name not in skip}


@dataclass(frozen=True)
class _Operand:
    """A parsed operand: its getter, its static type (None: unknown) and whether it is a
    literal (only a field compared with a literal is type-checked)."""

    getter: Getter
    type: str | None = None
    literal: bool = False


class _Guid(str):
    """A GUID literal: compares case-insensitively with string fields."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>"[^"]*")
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>=!(),.])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    """Tokens up to the first character that starts none (kept as a `bad` token, so the
    parser reports it where Dynamic LINQ would: usually "Syntax error")."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].lstrip().startswith('"'):
                raise WhereError("Unterminated string literal")
            tokens.append(("bad", text[pos:].strip()))
            break
        pos = m.end()
        kind = m.lastgroup or ""
        if kind == "str" and text.startswith('"', pos):
            # `"a""b"`: Dynamic LINQ's own escape; unconfirmed on Xero, so refused here
            raise WhereError("Syntax error: a quote inside a string is not supported")
        tokens.append((kind, m.group(kind)))
    tokens.append(("end", ""))
    return tokens


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and len(value) >= 10:
        try:
            return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _to_number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        left, right = _to_datetime(left), _to_datetime(right)
    elif isinstance(left, _Guid) or isinstance(right, _Guid):
        left = left.lower() if isinstance(left, str) else left
        right = right.lower() if isinstance(right, str) else right
    elif isinstance(left, Decimal) or isinstance(right, Decimal):
        left, right = _to_number(left), _to_number(right)
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == ">":
            return bool(left > right)
        if op == "<=":
            return bool(left <= right)
        return bool(left >= right)
    except TypeError:
        return False


_METHODS: dict[str, tuple[Callable[..., Any], str]] = {
    "contains": (lambda s, a: isinstance(s, str) and a in s, BOOLEAN),
    "startswith": (lambda s, a: isinstance(s, str) and s.startswith(a), BOOLEAN),
    "endswith": (lambda s, a: isinstance(s, str) and s.endswith(a), BOOLEAN),
    "tolower": (lambda s: s.lower() if isinstance(s, str) else s, STRING),
    "toupper": (lambda s: s.upper() if isinstance(s, str) else s, STRING),
}

_GUID_TEXT = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
_NULLABLE = {DATE: "DateTime?"}


def _check_types(op: str, left: _Operand, right: _Operand) -> None:
    """A field against a literal of another type is Dynamic LINQ's "incompatible operand
    types" error (Xero answers it with a QueryParseException, e.g. Xero-NetStandard #597:
    "Operator '>' incompatible with operand types 'DateTime?' and 'String'")."""
    for fld, lit in ((left, right), (right, left)):
        if fld.literal or not lit.literal or fld.type is None or lit.type is None:
            continue
        if lit.type == "Object":  # null
            continue
        if _compatible(fld.type, lit):
            continue
        names = [_NULLABLE.get(x.type or "", x.type) for x in (left, right)]
        raise WhereError(
            f"Operator '{op}' incompatible with operand types '{names[0]}' and '{names[1]}'"
        )


def _compatible(field_type: str, literal: _Operand) -> bool:
    if field_type == NUMBER:
        return literal.type in ("Int32", "Double", NUMBER)
    if field_type == GUID:
        return literal.type == GUID
    return field_type == literal.type


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.schema = schema

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
        if tok[0] != "end":
            self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        _kind, text = self.take()
        if text != value:
            raise WhereError(f"'{value}' expected")

    def is_word(self, *words: str) -> bool:
        kind, text = self.peek()
        return kind == "ident" and text.lower() in words

    def parse(self) -> Getter:
        getter = self.or_expr()
        if self.peek()[0] != "end":
            raise WhereError("Syntax error")
        return getter

    def or_expr(self) -> Getter:
        left = self.and_expr()
        while self.peek()[1] == "||" or self.is_word("or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda r: bool(a(r)) or bool(b(r)))(left, right)
        return left

    def and_expr(self) -> Getter:
        left = self.not_expr()
        while self.peek()[1] == "&&" or self.is_word("and"):
            self.take()
            right = self.not_expr()
            left = (lambda a, b: lambda r: bool(a(r)) and bool(b(r)))(left, right)
        return left

    def not_expr(self) -> Getter:
        if self.peek()[1] == "!" or self.is_word("not"):
            self.take()
            inner = self.not_expr()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Getter:
        left = self.primary()
        op = self.peek()[1]
        if op in ("==", "!=", "<", ">", "<=", ">=", "="):
            self.take()
            right = self.primary()
            _check_types(op, left, right)
            op = "==" if op == "=" else op
            lget, rget = left.getter, right.getter
            return lambda r: _compare(op, lget(r), rget(r))
        return left.getter

    def primary(self) -> _Operand:
        kind, text = self.take()
        if text == "(" and kind == "op":
            inner = self.or_expr()
            self.expect(")")
            return self.methods(_Operand(inner))
        if kind == "num":
            num = Decimal(text)
            return _Operand(lambda r: num, "Double" if "." in text else "Int32", True)
        if kind == "str":
            value = text[1:-1]  # as written: no backslash escapes in Xero's parser
            return self.methods(_Operand(lambda r: value, STRING, True))
        if kind == "ident":
            lowered = text.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return _Operand(lambda r: flag, BOOLEAN, True)
            if lowered == "null":
                return _Operand(lambda r: None, "Object", True)
            if lowered == "guid" and self.peek()[1] == "(":
                return self.guid()
            if lowered == "datetime" and self.peek()[1] == "(":
                return self.datetime_literal()
            return self.methods(self.path(text))
        if kind == "bad" or kind == "end":
            raise WhereError("Syntax error" if kind == "bad" else "Expression expected")
        raise WhereError(f"Expression expected at '{text}'")

    def guid(self) -> _Operand:
        self.expect("(")
        kind, text = self.take()
        if kind != "str":
            raise WhereError("guid() needs a string")
        self.expect(")")
        if not _GUID_TEXT.match(text[1:-1]):
            raise WhereError(
                "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
            )
        value = _Guid(text[1:-1].lower())
        return _Operand(lambda r: value, GUID, True)

    def datetime_literal(self) -> _Operand:
        self.expect("(")
        parts: list[int] = []
        while True:
            kind, text = self.take()
            if kind != "num":
                raise WhereError("DateTime() needs numbers")
            parts.append(int(Decimal(text)))
            if self.peek()[1] == ",":
                self.take()
                continue
            break
        self.expect(")")
        if len(parts) < 3:
            raise WhereError("DateTime() needs at least year, month and day")
        try:
            while len(parts) < 6:
                parts.append(0)
            year, month, day, hour, minute, second = parts[:6]
            value = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (TypeError, ValueError) as exc:
            raise WhereError(f"Invalid DateTime: {exc}") from None
        return _Operand(lambda r: value, DATE, True)

    def path(self, first: str) -> _Operand:
        names = [first]
        while self.peek()[1] == "." and self.tokens[self.pos + 1][0] == "ident":
            after = self.tokens[self.pos + 2][1] if self.pos + 2 < len(self.tokens) else ""
            if after == "(":
                break
            self.take()
            names.append(self.take()[1])
        return self.resolve(names)

    def resolve(self, names: list[str]) -> _Operand:
        schema: Schema | None = self.schema
        readers: list[Getter] = []
        kind: str | None = None
        for name in names:
            if schema is None:
                raise WhereError(f"No property or field '{name}' exists in type 'Object'")
            if name not in schema.fields:
                raise WhereError(
                    f"No property or field '{name}' exists in type '{schema.type_name}'"
                )
            reader = schema.readers.get(name)
            readers.append(reader if reader is not None else (lambda n: lambda r: r.get(n))(name))
            kind = schema.types.get(name)
            schema = schema.nested.get(name)
        if len(readers) == 1:
            return _Operand(readers[0], kind)

        def chained(record: Record) -> Any:
            value: Any = record
            for reader in readers:
                if not isinstance(value, Mapping):
                    return None
                value = reader(value)
            return value

        return _Operand(chained, kind)

    def methods(self, target: _Operand) -> _Operand:
        while self.peek()[1] == "." and self.tokens[self.pos + 1][0] == "ident":
            self.take()
            name = self.take()[1]
            found = _METHODS.get(name.lower())
            if found is None or target.type not in (None, STRING):
                raise WhereError(
                    f"No applicable method '{name}' exists in type '{target.type or STRING}'"
                )
            fn, result_type = found
            self.expect("(")
            args: list[Getter] = []
            while self.peek()[1] != ")":
                args.append(self.or_expr())
                if self.peek()[1] == ",":
                    self.take()
            self.expect(")")
            getter = (lambda t, f, a: lambda r: f(t(r), *(x(r) for x in a)))(
                target.getter, fn, args
            )
            target = _Operand(getter, result_type)
        return target


def compile_where(text: str, schema: Schema) -> Predicate:
    """Compile a `where` string into a predicate over stored records."""
    getter = _Parser(text, schema).parse()
    return lambda record: bool(getter(record))
