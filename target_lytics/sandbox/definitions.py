"""What a sandbox account's schema is made of, and what a request body may say about it.

Field types and merge ops, fields, mappings, published versions and patches.

Kept as strict as Lytics' corrected documentation (agent-skills, "checked against lio
`develop` source"): field bodies take lowercase keys only (``id``, ``type``, ``shortdesc``,
``mergeop``, ``is_identifier``, ``is_pii``), capitalised ones answered ``Attribute 'Field' is
required for Field``; an identifier or a ``bool`` field refuses a merge op; sets and maps have
a ``capacity`` (0: no limit); a mapping's expression must be LQL the sandbox evaluates; a
publication needs a kebab-case ``tag`` and a ``description``. How they change together (the
draft, versions, patches) is `schema`.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from target_lytics.sandbox.lql import LqlError, parse_expression, parse_guard

TABLE: Final = "user"
SCALAR_TYPES: Final = ("string", "bool", "int", "number", "date")
_OPS: Final[dict[str, tuple[str, ...]]] = {
    "string": ("latest", "oldest"),
    "bool": ("latest", "oldest"),
    "int": ("latest", "oldest", "sum", "count", "min", "max"),
    "number": ("latest", "oldest", "sum", "min", "max"),
    "date": ("latest", "oldest", "min", "max"),
    "set": ("merge", "capped"),
    "map": ("merge", "latestmap", "oldestmap", "mapmax", "mapmin"),
}
#: Merge ops a body may declare: none for ``bool`` (Lytics: "Merge operation 'latest' is invalid
#: for data type 'boolean'"), which merges as its latest value.
_DECLARABLE: Final = {**_OPS, "bool": ()}
SET_TYPES: Final = ("[]string", "ts[]string", "[]time")
MAP_TYPES: Final = tuple(
    f"map[string]{kind}" for kind in ("string", "int", "number", "bool", "time", "value")
)
TYPES: Final = SCALAR_TYPES + SET_TYPES + MAP_TYPES
_FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAG: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_BOOL_NAMES: Final = {"bool": "boolean"}


class SchemaError(Exception):
    """A schema request Lytics refuses: the status and Lytics' message."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status the API answers with."""
        super().__init__(message)
        self.status = status
        self.message = message


def type_family(type_name: str) -> str:
    """``string``..``date`` as themselves; every set type ``set``; every map type ``map``."""
    if type_name in SET_TYPES:
        return "set"
    if type_name in MAP_TYPES:
        return "map"
    return type_name


def merge_op_of(definition: FieldDef) -> str:
    """The merge op a field really merges by: its own, else its type's default (Lytics')."""
    return definition.merge_op or _OPS[type_family(definition.type)][0]


@dataclass(slots=True)
class FieldDef:
    """A user field."""

    name: str
    type: str
    merge_op: str = ""
    identifier: bool = False
    pii: bool = False
    shortdesc: str = ""
    longdesc: str = ""
    created: str = ""
    modified: str = ""
    capacity: int = 0

    def to_api(self, status: str) -> dict[str, Any]:
        """The field as the read endpoints show it (lower-case keys; the name is ``id``).

        Identifiers show a server-filled merge op (``latest``), as Lytics' GET does.
        """
        shown = {
            "id": self.name,
            "type": self.type,
            "shortdesc": self.shortdesc,
            "longdesc": self.longdesc,
            "mergeop": "latest" if self.identifier else self.merge_op,
            "is_identifier": self.identifier,
            "is_pii": self.pii,
            "edit_status": status,
            "created": self.created,
            "modified": self.modified,
        }
        if type_family(self.type) in {"set", "map"}:
            shown["capacity"] = self.capacity
        return shown


@dataclass(slots=True)
class MappingDef:
    """A mapping: the user field ``field`` gets ``expr`` of records of ``stream``."""

    id: str
    field: str
    stream: str
    expr: str
    guard_expr: str = ""
    created: str = ""
    modified: str = ""

    def to_api(self, status: str) -> dict[str, Any]:
        """The mapping as the read endpoints show it."""
        return {
            "id": self.id,
            "field": self.field,
            "stream": self.stream,
            "expr": self.expr,
            "guard_expr": self.guard_expr,
            "edit_status": status,
            "created": self.created,
            "modified": self.modified,
        }


@dataclass(slots=True)
class Version:
    """A published schema: it builds profiles from events stored after ``marker``."""

    number: int
    tag: str
    description: str
    published: str
    marker: int
    fields: dict[str, FieldDef]
    mappings: dict[str, MappingDef]

    def summary(self) -> dict[str, Any]:
        """The version without its contents."""
        return {
            "version": self.number,
            "tag": self.tag,
            "description": self.description,
            "published": self.published,
            "after_event": self.marker,
            "fields": len(self.fields),
            "mappings": len(self.mappings),
        }


@dataclass(slots=True)
class Patch:
    """A named change set, applied as one published version."""

    id: str
    tag: str
    description: str
    created: str
    state: str = "draft"
    fields: dict[str, FieldDef] = field(default_factory=dict)
    mappings: dict[str, MappingDef] = field(default_factory=dict)


# --- reading request bodies --------------------------------------------------------------------


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SchemaError(400, f"{key} must be a string")
    return value.strip()


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise SchemaError(400, f"{key} must be true or false")
    return value


def _capacity(body: dict[str, Any], type_name: str) -> int:
    value = body.get("capacity", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(400, "capacity must be a whole number, 0 or more (0: no limit)")
    if value and type_family(type_name) not in {"set", "map"}:
        raise SchemaError(400, f"only set and map fields have a capacity, not {type_name}")
    return value


def field_from_body(body: dict[str, Any], *, now: str, name: str = "") -> FieldDef:
    """A field from a create or update body (lowercase keys), checked as Lytics checks it.

    A body with Lytics' old capitalised keys has no ``id`` and is refused the way Lytics
    refuses it; an update takes its name from the path (``name``), so there the old keys are
    simply not read.
    """
    given = _text(body, "id")
    if not given and not name:
        raise SchemaError(400, "Attribute 'Field' is required for Field")
    if name and given and given != name:
        raise SchemaError(400, f"Field {given!r} does not match the path ({name!r})")
    name = name or given
    if not _FIELD_NAME.fullmatch(name):
        raise SchemaError(400, f"field name {name!r}: letters, digits and _ only")
    type_name = _text(body, "type").lower()
    if type_name not in TYPES:
        raise SchemaError(400, f"Attribute 'Type' must be one of {', '.join(TYPES)}")
    merge_op = _text(body, "mergeop").lower()
    identifier = _flag(body, "is_identifier")
    if identifier and merge_op:
        raise SchemaError(400, "Identifier Field cannot define a Merge Operation.")
    if identifier and type_name not in SCALAR_TYPES:
        raise SchemaError(400, f"an identifier field must be a scalar, not {type_name}")
    allowed = _DECLARABLE[type_family(type_name)]
    if merge_op and merge_op not in allowed:
        raise SchemaError(
            400,
            f"Merge operation '{merge_op}' is invalid for data type "
            f"'{_BOOL_NAMES.get(type_name, type_name)}'."
            + (f" Valid merge operations are: [{' '.join(allowed)}]" if allowed else ""),
        )
    return FieldDef(
        name=name,
        type=type_name,
        merge_op=merge_op,
        identifier=identifier,
        pii=_flag(body, "is_pii"),
        shortdesc=_text(body, "shortdesc"),
        longdesc=_text(body, "longdesc"),
        created=now,
        modified=now,
        capacity=_capacity(body, type_name),
    )


def mapping_from_body(body: dict[str, Any], mapping_id: str, now: str) -> MappingDef:
    """A mapping from a create or update body: field, stream and expr required, LQL checked."""
    values = {key: _text(body, key) for key in ("field", "stream", "expr", "guard_expr")}
    missing = [key for key in ("field", "stream", "expr") if not values[key]]
    if missing:
        raise SchemaError(400, f"a mapping needs {', '.join(missing)} (field, stream, expr)")
    try:
        parse_expression(values["expr"])
        if values["guard_expr"]:
            parse_guard(values["guard_expr"])
    except LqlError as error:
        raise SchemaError(400, f"invalid expression: {error}") from None
    return MappingDef(mapping_id, created=now, modified=now, **values)


def publication(body: dict[str, Any]) -> tuple[str, str]:
    """The ``tag`` and ``description`` of a publish or a patch (both required, tag kebab-case)."""
    tag, description = _text(body, "tag"), _text(body, "description")
    if not tag or not description:
        raise SchemaError(400, "tag and description are both required")
    if not _TAG.fullmatch(tag):
        raise SchemaError(400, f"tag {tag!r} must be kebab-case, like add-phone-identifier")
    return tag, description
