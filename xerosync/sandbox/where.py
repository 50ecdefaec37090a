"""A small, real parser for Xero's `where` filter language (a Dynamic LINQ subset).

Supported: `==`, `!=`, `<`, `>`, `<=`, `>=`, `AND`/`&&`, `OR`/`||`, `NOT`/`!`, parentheses,
strings, numbers, `true`/`false`/`null`, `guid("…")`/`Guid("…")`, `DateTime(y,m,d[,h,mi,s])`,
dotted paths (`Contact.ContactID`) and the string methods `Contains`, `StartsWith`,
`EndsWith`, `ToLower`, `ToUpper`. The result is a compiled predicate, so a filter over 100k
records costs one Python call per record. Unknown fields raise `WhereError` with Dynamic
LINQ's wording, which the caller turns into Xero's 400 QueryParseException.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Schema:
    """What a `where` may name: field names per type, and how to read special fields."""

    type_name: str
    fields: frozenset[str]
    nested: Mapping[str, Schema]
    readers: Mapping[str, Getter]


class _Guid(str):
    """A GUID literal: compares case-insensitively with string fields."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>=!(),.])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WhereError(f"Syntax error at position {pos}: unexpected character")
        pos = m.end()
        kind = m.lastgroup or ""
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


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


def _unescape(body: str) -> str:
    """A string literal's text with its backslash escapes applied; every other character,
    non-ASCII included, as written (decoding the UTF-8 bytes as `unicode_escape` read them as
    Latin-1, so `Name=="Café"` never matched a café)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, "\\" + code)

    return _ESCAPE.sub(one, body)


_METHODS: dict[str, Callable[..., Any]] = {
    "contains": lambda s, a: isinstance(s, str) and a in s,
    "startswith": lambda s, a: isinstance(s, str) and s.startswith(a),
    "endswith": lambda s, a: isinstance(s, str) and s.endswith(a),
    "tolower": lambda s: s.lower() if isinstance(s, str) else s,
    "toupper": lambda s: s.upper() if isinstance(s, str) else s,
}


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.schema = schema

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, str]:
        tok = self.tokens[self.pos]
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
            raise WhereError("Syntax error: operator expected")
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
            op = "==" if op == "=" else op
            right = self.primary()
            return lambda r: _compare(op, left(r), right(r))
        return left

    def primary(self) -> Getter:
        kind, text = self.take()
        if text == "(":
            inner = self.or_expr()
            self.expect(")")
            return self.methods(inner)
        if kind == "num":
            num = Decimal(text)
            return lambda r: num
        if kind == "str":
            value = _unescape(text[1:-1])
            return self.methods(lambda r: value)
        if kind == "ident":
            lowered = text.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return lambda r: flag
            if lowered == "null":
                return lambda r: None
            if lowered == "guid" and self.peek()[1] == "(":
                return self.guid()
            if lowered == "datetime" and self.peek()[1] == "(":
                return self.datetime_literal()
            return self.methods(self.path(text))
        raise WhereError(f"Expression expected at '{text}'")

    def guid(self) -> Getter:
        self.expect("(")
        kind, text = self.take()
        if kind != "str":
            raise WhereError("guid() needs a string")
        self.expect(")")
        value = _Guid(text[1:-1].lower())
        return lambda r: value

    def datetime_literal(self) -> Getter:
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
        return lambda r: value

    def path(self, first: str) -> Getter:
        names = [first]
        while self.peek()[1] == "." and self.tokens[self.pos + 1][0] == "ident":
            after = self.tokens[self.pos + 2][1] if self.pos + 2 < len(self.tokens) else ""
            if after == "(":
                break
            self.take()
            names.append(self.take()[1])
        return self.resolve(names)

    def resolve(self, names: list[str]) -> Getter:
        schema: Schema | None = self.schema
        readers: list[Getter] = []
        for name in names:
            if schema is None:
                raise WhereError(f"No property or field '{name}' exists in type 'Object'")
            if name not in schema.fields:
                raise WhereError(
                    f"No property or field '{name}' exists in type '{schema.type_name}'"
                )
            reader = schema.readers.get(name)
            readers.append(reader if reader is not None else (lambda n: lambda r: r.get(n))(name))
            schema = schema.nested.get(name)
        if len(readers) == 1:
            return readers[0]

        def chained(record: Record) -> Any:
            value: Any = record
            for reader in readers:
                if not isinstance(value, Mapping):
                    return None
                value = reader(value)
            return value

        return chained

    def methods(self, target: Getter) -> Getter:
        while self.peek()[1] == "." and self.tokens[self.pos + 1][0] == "ident":
            self.take()
            name = self.take()[1]
            fn = _METHODS.get(name.lower())
            if fn is None:
                raise WhereError(f"No applicable method '{name}' exists in type 'String'")
            self.expect("(")
            args: list[Getter] = []
            while self.peek()[1] != ")":
                args.append(self.or_expr())
                if self.peek()[1] == ",":
                    self.take()
            self.expect(")")
            target = (
                lambda t, f, a: lambda r: f(t(r), *(x(r) for x in a))
            )(target, fn, args)
        return target


def compile_where(text: str, schema: Schema) -> Predicate:
    """Compile a `where` string into a predicate over stored records."""
    getter = _Parser(text, schema).parse()
    return lambda record: bool(getter(record))
