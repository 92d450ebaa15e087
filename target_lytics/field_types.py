"""Lytics' user field types and merge operations, and which go together.

From Lytics' own field reference (`lytics/agent-skills`, `references/field-types.md`). The
`mapping` setting is checked against these tables before any request, so a field Lytics would
refuse (a set merged by `sum`, a map typed `string`) is reported as a setting to fix, and the
schema plan compares an account's fields in these terms. Pure data and small pure functions.
"""

from __future__ import annotations

from typing import Final, Literal

Shape = Literal["value", "list", "map", "email"]
"""How a mapping row reads its source: one value, a set (`set()`), a map (`map()`), an email."""

SCALAR_TYPES: Final = ("string", "bool", "int", "number", "date")
SET_TYPES: Final = ("[]string", "ts[]string", "[]time")
MAP_TYPES: Final = tuple(
    f"map[string]{kind}" for kind in ("string", "int", "number", "bool", "time", "value")
)
TYPES: Final = SCALAR_TYPES + SET_TYPES + MAP_TYPES

#: Spellings Lytics' documentation uses for the same type (`number` / `float`, ...).
TYPE_ALIASES: Final[dict[str, str]] = {
    "float": "number",
    "integer": "int",
    "boolean": "bool",
    "time": "date",
    "datetime": "date",
}

_SCALAR_OPS: Final[dict[str, tuple[str, ...]]] = {
    "string": ("latest", "oldest"),
    "bool": ("latest", "oldest"),
    "int": ("latest", "oldest", "sum", "count", "min", "max"),
    "number": ("latest", "oldest", "sum", "min", "max"),
    "date": ("latest", "oldest", "min", "max"),
}
_SET_OPS: Final = ("merge", "capped")
_MAP_OPS: Final = ("merge", "latestmap", "oldestmap", "mapmax", "mapmin")

#: The types each shape of mapping row can fill.
SHAPE_TYPES: Final[dict[Shape, tuple[str, ...]]] = {
    "value": SCALAR_TYPES,
    "email": ("string",),
    "list": SET_TYPES,
    "map": MAP_TYPES,
}
#: The type a row gets when its definition names none.
DEFAULT_TYPES: Final[dict[Shape, str]] = {
    "value": "string",
    "email": "string",
    "list": "[]string",
    "map": "map[string]string",
}


def normal_type(name: str) -> str:
    """A type name in the one spelling used here (`Float` and `float` are `number`)."""
    text = name.strip().lower()
    return TYPE_ALIASES.get(text, text)


def merge_ops(type_name: str) -> tuple[str, ...]:
    """The merge operations Lytics allows on a type (the first is its default)."""
    kind = normal_type(type_name)
    if kind in _SCALAR_OPS:
        return _SCALAR_OPS[kind]
    if kind.startswith("map["):
        return _MAP_OPS
    if kind.startswith(("[]", "ts[]")):
        return _SET_OPS
    return ()


def default_merge_op(type_name: str) -> str | None:
    """What Lytics merges a field of this type by when it declares nothing."""
    ops = merge_ops(type_name)
    return ops[0] if ops else None
