"""The part of LQL the sandbox's mappings understand: field paths and four functions.

A Lytics mapping's ``expr`` turns a stream record into a user field's value; its optional
``guard_expr`` decides whether the mapping applies to a record. The sandbox evaluates:

- field paths, nested or dotted (``conversion_data.email`` reads the key ``"conversion_data.email"``
  when the record has it, else ``record["conversion_data"]["email"]``); backquotes allow any
  name (`` `first name` ``);
- ``set(x)`` (a set: a list's items, or one value), ``map(key, value)``, ``email(x)`` (trimmed,
  lower-cased, or nothing when it is not an email address), ``todate(x)`` (ISO-8601 or epoch);
- in guards, ``x = 'literal'``, ``x != 'literal'`` (also ``==``, ``<``, ``<=``, ``>``, ``>=``
  and numbers, ``true``, ``false``), ``exists(x)`` / ``EXISTS x``, or an expression (true when it
  has a value).

Anything else is refused when the mapping is created (`LqlError`, answered 400), so a mapping
the sandbox cannot evaluate never silently leaves profiles empty. Pure.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from target_lytics.sandbox.profiles import iso_time, parse_event_time

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

SUPPORTED: Final = "field paths, set(x), map(key, value), email(x) and todate(x)"
_TOKEN: Final = re.compile(
    r"\s*(?:(?P<quoted>`[^`]*`)|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op>==|!=|<=|>=|=|<|>)|(?P<punct>[(),]))"
)
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class LqlError(ValueError):
    """An expression outside the sandbox's LQL subset, or not an expression at all."""


# --- the functions ----------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, dict | list)


def _set(value: Any) -> list[Any] | None:
    if value is None or isinstance(value, dict):
        return None
    items = [item for item in (value if isinstance(value, list) else [value]) if _is_scalar(item)]
    return items or None


def _map(key: Any, value: Any) -> dict[str, Any] | None:
    if not _is_scalar(key) or value is None or (isinstance(key, str) and not key.strip()):
        return None
    return {str(key): value}


def _email(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _EMAIL.fullmatch(text) else None


def _todate(value: Any) -> str | None:
    moment = parse_event_time(value)
    return None if moment is None else iso_time(moment)


_FUNCTIONS: Final[dict[str, tuple[int, Callable[..., Any]]]] = {
    "set": (1, _set),
    "map": (2, _map),
    "email": (1, _email),
    "todate": (1, _todate),
}


# --- the expression tree -----------------------------------------------------------------------


def _read(record: Mapping[str, Any], name: str, parts: tuple[str, ...]) -> Any:
    if name in record:
        return record[name]
    value: Any = record
    for part in parts:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


@dataclass(frozen=True, slots=True)
class Path:
    """A stream field, nested or dotted."""

    name: str

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """The field's value in one record (None when absent)."""
        return _read(record, self.name, tuple(self.name.split(".")))

    @property
    def reads(self) -> frozenset[str]:
        """The stream fields this reads."""
        return frozenset({self.name})


@dataclass(frozen=True, slots=True)
class Literal:
    """A string, number or boolean written in a guard."""

    value: Any

    def evaluate(self, record: Mapping[str, Any]) -> Any:  # noqa: ARG002 - a constant
        """The literal itself."""
        return self.value

    @property
    def reads(self) -> frozenset[str]:
        """Nothing."""
        return frozenset()


@dataclass(frozen=True, slots=True)
class Call:
    """One of the supported functions applied to expressions."""

    name: str
    args: tuple[Expression, ...]

    def evaluate(self, record: Mapping[str, Any]) -> Any:
        """The function of its arguments' values."""
        _, function = _FUNCTIONS[self.name]
        return function(*(arg.evaluate(record) for arg in self.args))

    @property
    def reads(self) -> frozenset[str]:
        """The stream fields its arguments read."""
        return frozenset().union(*(arg.reads for arg in self.args))


Expression = Path | Literal | Call


@dataclass(frozen=True, slots=True)
class Guard:
    """When a mapping applies: a comparison, an existence test, or a value being present."""

    left: Expression
    op: str = ""
    right: Expression | None = None

    def holds(self, record: Mapping[str, Any]) -> bool:
        """Whether the mapping applies to this record."""
        value = self.left.evaluate(record)
        if self.right is None:
            return value is not None and value not in ("", [], {}) and value is not False
        other = self.right.evaluate(record)
        try:
            return bool(_COMPARISONS[self.op](value, other))
        except TypeError:  # a string compared with a number: Lytics' guard is false
            return False


# --- parsing ----------------------------------------------------------------------------------


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                msg = f"cannot read {text[position:]!r}: the sandbox's LQL knows {SUPPORTED}"
                raise LqlError(msg)
            kind = found.lastgroup or ""
            self.items.append((kind, found.group(kind)))
            position = found.end()
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.items[self.position] if self.position < len(self.items) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.take()
        if text != value:
            msg = f"expected {value!r}, found {text or 'the end'!r}"
            raise LqlError(msg)


def _literal(kind: str, text: str) -> Literal | None:
    if kind == "string":
        return Literal(text[1:-1].encode().decode("unicode_escape"))
    if kind == "number":
        return Literal(float(text) if "." in text else int(text))
    if kind == "name" and text.lower() in {"true", "false"}:
        return Literal(text.lower() == "true")
    return None


def _expression(tokens: _Tokens, *, literals: bool) -> Expression:
    kind, text = tokens.take()
    if literals and (literal := _literal(kind, text)) is not None:
        return literal
    if kind == "quoted":
        return Path(text[1:-1])
    if kind != "name":
        msg = f"expected a field or a function, found {text or 'the end'!r}"
        raise LqlError(msg)
    if tokens.peek() != ("punct", "("):
        return Path(text)
    function = text.lower()
    if function not in _FUNCTIONS:
        msg = f"{text}() is not supported here: the sandbox's LQL knows {SUPPORTED}"
        raise LqlError(msg)
    tokens.expect("(")
    args: list[Expression] = []
    while tokens.peek() != ("punct", ")"):
        if args:
            tokens.expect(",")
        args.append(_expression(tokens, literals=False))
    tokens.expect(")")
    arity, _ = _FUNCTIONS[function]
    if len(args) != arity:
        msg = f"{function}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}"
        raise LqlError(msg)
    return Call(function, tuple(args))


def _finished(tokens: _Tokens) -> None:
    kind, text = tokens.peek()
    if kind != "end":
        msg = f"unexpected {text!r}: the sandbox's LQL knows {SUPPORTED}"
        raise LqlError(msg)


def parse_expression(text: str) -> Expression:
    """A mapping's ``expr``: a field path or a supported function of field paths.

    Raises:
        LqlError: it is empty, not LQL, or outside the subset.
    """
    if not isinstance(text, str) or not text.strip():
        msg = "expr must be an LQL expression such as a field name"
        raise LqlError(msg)
    tokens = _Tokens(text)
    expression = _expression(tokens, literals=False)
    _finished(tokens)
    return expression


def parse_guard(text: str) -> Guard:
    """A mapping's ``guard_expr``: a comparison with a literal, ``exists(x)``, or an expression.

    Raises:
        LqlError: it is not one of those.
    """
    if not isinstance(text, str) or not text.strip():
        msg = "guard_expr must be a condition such as email != ''"
        raise LqlError(msg)
    tokens = _Tokens(text)
    if tokens.peek()[0] == "name" and tokens.peek()[1].lower() == "exists":
        tokens.take()
        wrapped = tokens.peek() == ("punct", "(")
        if wrapped:
            tokens.take()
        target = _expression(tokens, literals=False)
        if wrapped:
            tokens.expect(")")
        _finished(tokens)
        return Guard(target)
    left = _expression(tokens, literals=False)
    kind, op = tokens.peek()
    if kind != "op":
        _finished(tokens)
        return Guard(left)
    tokens.take()
    right = _expression(tokens, literals=True)
    _finished(tokens)
    return Guard(left, op, right)
