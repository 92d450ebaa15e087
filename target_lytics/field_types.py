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

#: A `bool` field takes no merge op: Lytics reportedly refuses one ("Merge operation 'latest'
#: is invalid for data type 'boolean'"), so none is sent, and none is compared.
_SCALAR_OPS: Final[dict[str, tuple[str, ...]]] = {
    "string": ("latest", "oldest"),
    "bool": (),
    "int": ("latest", "oldest", "sum", "count", "min", "max"),
    "number": ("latest", "oldest", "sum", "min", "max"),
    "date": ("latest", "oldest", "min", "max"),
}
_SET_OPS: Final = ("merge", "capped")
_MAP_OPS: Final = ("merge", "latestmap", "oldestmap", "mapmax", "mapmin")

#: Types whose values count one profile attribute per item (Lytics' 1,000-value limit).
COLLECTION_PREFIXES: Final = ("[]", "ts[]", "map[")


def is_collection(type_name: str) -> bool:
    """A set or a map: each item counts against a profile's 1,000 attribute values."""
    return normal_type(type_name).startswith(COLLECTION_PREFIXES)


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
    """A type name in one spelling: `Float` is `number`, `map[string]float` `map[string]number`."""
    text = name.strip().lower()
    if text.startswith("map[string]"):
        kind = text.removeprefix("map[string]")
        return f"map[string]{TYPE_ALIASES.get(kind, kind)}"
    return TYPE_ALIASES.get(text, text)


def merge_ops(type_name: str) -> tuple[str, ...]:
    """The merge operations Lytics allows on a type (the first is its default; none: bool)."""
    kind = normal_type(type_name)
    if kind in _SCALAR_OPS:
        return _SCALAR_OPS[kind]
    if kind.startswith("map["):
        return _MAP_OPS
    if kind.startswith(("[]", "ts[]")):
        return _SET_OPS
    return ()


def default_merge_op(type_name: str) -> str | None:
    """What Lytics merges a field of this type by when it declares nothing (None: bool)."""
    ops = merge_ops(type_name)
    return ops[0] if ops else None
