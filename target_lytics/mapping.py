"""What a Singer record becomes in Lytics: a stream record, and the user fields it fills.

Lytics keeps what is collected into a stream as it arrives; user fields get values only through
the account's mappings (LQL expressions over the stream's fields). So each row of the mapping
table (`mapping_setting`) says three things about one user field: which source values feed it,
the *stream field* that carries them to Lytics, and the field's definition (type, merge op,
identifier). The first two make the record sent (`map_record`); the stream field and the
definition make the field and mapping the account must hold (`schema.required_schema`).

Everything here is pure (no I/O, no Singer, no HTTP). A mapping is compiled once, so applying it
per record is a projection: each distinct source read once, each stream field written once.
Empty values (None, blank strings, empty lists and objects) are never sent: Lytics would store
them and erase the profile's existing value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from target_lytics.field_types import Shape

Path = tuple[str, ...]
"""A dotted path as its parts: ``("conversion_data", "email")``."""

MAX_NESTING: Final = 100
"""How deep objects and arrays may nest in a record sent. Lytics documents no limit, and flattens
nested objects into dotted field names; no real record nests this far, and a value nested
deeper (a hostile or broken input) would exhaust Python's stack while being cleaned."""


class RecordShapeError(ValueError):
    """A record Lytics cannot take as it is; the message says what to change."""


def dotted(path: Path) -> str:
    """The path as Lytics and the setting write it: ``conversion_data.email``."""
    return ".".join(path)


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """What a Lytics user field is: the part of the schema the account must hold for it.

    ``merge_op`` is None for identifiers (Lytics joins profiles on them and refuses a merge op)
    and for ``bool`` fields (Lytics reportedly refuses one there too).
    """

    type: str
    merge_op: str | None
    identifier: bool = False
    description: str = ""
    pii: bool = False


@dataclass(frozen=True, slots=True)
class FieldRule:
    """One row of the table: a user field, the values feeding it, the stream field carrying them.

    ``sources`` are tried in order (the first non-empty wins); a map row also carries its key
    (``keys``) in ``key_field``.
    """

    sources: tuple[Path, ...]
    stream_field: Path
    definition: FieldDefinition
    shape: Shape = "value"
    keys: tuple[Path, ...] = ()
    key_field: Path = ()

    @property
    def expression(self) -> str:
        """The LQL expression of this row's mapping: what Lytics evaluates per stream record."""
        value = dotted(self.stream_field)
        if self.shape == "list":
            return f"set({value})"
        if self.shape == "map":
            return f"map({dotted(self.key_field)}, {value})"
        if self.shape == "email":
            return f"email({value})"
        if self.definition.type == "date":
            return f"todate({value})"  # Lytics parses the text (ISO-8601 or epoch) into a date
        return value

    @property
    def reads(self) -> tuple[str, ...]:
        """The stream fields the expression reads."""
        if self.shape == "map":
            return (dotted(self.key_field), dotted(self.stream_field))
        return (dotted(self.stream_field),)

    def carried(self) -> list[tuple[Path, tuple[Path, ...]]]:
        """(stream field, its sources) pairs this row puts into the record."""
        pairs = [(self.stream_field, self.sources)]
        if self.shape == "map":
            pairs.append((self.key_field, self.keys))
        return pairs


def carried_fields(
    fields: dict[str, FieldRule], timestamp_field: str | None
) -> tuple[dict[Path, tuple[Path, ...]], list[str]]:
    """The stream fields a mapping sends, each with its sources, and why they cannot be sent.

    Two rows may share a stream field only with the same sources, and no stream field may sit
    inside another (``conversion`` and ``conversion.first_name``): a record has one value at a
    path. The timestamp field is carried from the source field of the same name when no row
    carries it, so ``timestamp_field`` always names a field Lytics receives.
    """
    carried: dict[Path, tuple[Path, ...]] = {}
    problems: list[str] = []
    for name, rule in fields.items():
        for path, sources in rule.carried():
            known = carried.setdefault(path, sources)
            if known != sources:
                problems.append(
                    f"fields.{name}: stream field {dotted(path)!r} is already fed by "
                    f"{[dotted(p) for p in known]}; give this row another stream_field"
                )
    if timestamp_field:
        path = tuple(timestamp_field.split("."))
        carried.setdefault(path, (path,))
    problems += [
        f"stream field {dotted(path)!r} would hold {dotted(other)!r} inside it; "
        "rename one of them through stream_field"
        for path in carried
        for other in carried
        if len(other) > len(path) and other[: len(path)] == path
    ]
    return carried, problems


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """The parsed mapping of one Singer stream: where it goes and what its rows are."""

    lytics_stream: str | None
    timestamp_field: str | None
    fields: dict[str, FieldRule] = field(default_factory=dict)
    compiled: _Projection = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile once so that applying the mapping per record stays cheap."""
        carried, _ = carried_fields(self.fields, self.timestamp_field)
        object.__setattr__(self, "compiled", _compile(carried))

    @property
    def identity_paths(self) -> tuple[tuple[str, Path], ...]:
        """(identifier user field, stream field carrying it): values Lytics limits to 256 bytes."""
        return tuple(
            (name, rule.stream_field)
            for name, rule in self.fields.items()
            if rule.definition.identifier
        )


# --------------------------------------------------------------------------------------------
# Emptiness and passthrough flattening
# --------------------------------------------------------------------------------------------


def lytics_value(value: Any) -> Any:
    """Return `value` in a shape Lytics accepts, or None when nothing is worth sending.

    Blank values (None, blank strings, empty lists and objects, NaN and infinities, which JSON
    cannot carry) are dropped at every depth: Lytics would store them and erase the profile's
    existing value. Lytics takes nested objects and arrays of scalars but rejects arrays holding
    objects or arrays; those become objects keyed by position ("0", "1", ...), so nothing is lost.

    Raises:
        RecordShapeError: objects or arrays nest more than `MAX_NESTING` levels deep.
    """
    return _lytics_value(value, 0)


def _lytics_value(value: Any, depth: int) -> Any:
    if isinstance(value, dict | list) and depth >= MAX_NESTING:
        msg = (
            f"nests objects or arrays more than {MAX_NESTING} levels deep, which no Lytics "
            "record needs: fix the record, or leave that field out through the mapping setting"
        )
        raise RecordShapeError(msg)
    if isinstance(value, dict):
        nested = {
            str(k): v
            for k, item in value.items()
            if (v := _lytics_value(item, depth + 1)) is not None
        }
        return nested or None
    if isinstance(value, list):
        return _lytics_array(value, depth)
    return _lytics_scalar(value)


def _lytics_array(value: list[Any], depth: int) -> Any:
    items = [_lytics_value(item, depth + 1) for item in value]
    if any(isinstance(item, (dict, list)) for item in items):
        by_position = {str(i): item for i, item in enumerate(items) if item is not None}
        return by_position or None
    scalars = [item for item in items if item is not None]
    return scalars or None


def _lytics_scalar(value: Any) -> Any:
    if isinstance(value, str):
        return value if value and not value.isspace() else None
    if isinstance(value, (float, Decimal)):
        return value if math.isfinite(value) else None
    return value


def passthrough_record(record: dict[str, Any]) -> dict[str, Any]:
    """Return a record of an unmapped stream as Lytics accepts it (blanks dropped, arrays fixed)."""
    return lytics_value(record) or {}


# --------------------------------------------------------------------------------------------
# Applying a mapping: a projection of source paths onto stream fields
# --------------------------------------------------------------------------------------------


def lookup(record: dict[str, Any], path: Path) -> Any:
    """The value at a path of nested objects, or None."""
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _first_present(record: dict[str, Any], paths: tuple[str | Path, ...]) -> Any:
    """The first non-blank value among `paths`, ready for Lytics (this runs per source field)."""
    for path in paths:
        value = record.get(path) if isinstance(path, str) else lookup(record, path)
        if value is None:
            continue
        cls = value.__class__
        if cls is str:
            if value and not value.isspace():
                return value
            continue
        if cls is int or (cls is float and math.isfinite(value)):
            return value
        value = lytics_value(value)
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class _Projection:
    """A mapping reshaped for speed: every distinct source read once, written to its fields."""

    sources: tuple[tuple[str | Path, ...], ...]
    outputs: tuple[tuple[str, Path, int], ...]  # (top-level key, the rest of the path, source)


def _compile(carried: dict[Path, tuple[Path, ...]]) -> _Projection:
    slots: dict[tuple[Path, ...], int] = {}
    outputs = tuple(
        (path[0], path[1:], slots.setdefault(sources, len(slots)))
        for path, sources in carried.items()
        if path
    )
    sources = tuple(tuple(path[0] if len(path) == 1 else path for path in paths) for paths in slots)
    return _Projection(sources=sources, outputs=outputs)


def map_record(mapping: StreamMapping, record: dict[str, Any]) -> dict[str, Any]:
    """Build the Lytics stream record of one source record; fields without a value are left out."""
    compiled = mapping.compiled
    get = record.get
    values: list[Any] = []
    for paths in compiled.sources:
        if len(paths) == 1 and isinstance(key := paths[0], str):
            # The common case, inlined: one top-level field holding a string or a number.
            value = get(key)
            cls = value.__class__
            if cls is str:
                values.append(value if value and not value.isspace() else None)
                continue
            if value is None or cls is int or (cls is float and math.isfinite(value)):
                values.append(value)
                continue
        values.append(_first_present(record, paths))
    out: dict[str, Any] = {}
    for top, rest, source in compiled.outputs:
        value = values[source]
        if value is None:
            continue
        if not rest:
            out[top] = value
            continue
        holder = out.setdefault(top, {})
        for part in rest[:-1]:
            holder = holder.setdefault(part, {})
        holder[rest[-1]] = value
    return out


# --------------------------------------------------------------------------------------------
# One stream's delivery plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """Where and how one Singer stream's records go: Lytics stream, timestamp field, mapping."""

    lytics_stream: str
    timestamp_field: str | None
    mapping: StreamMapping | None

    def to_lytics(self, record: dict[str, Any]) -> dict[str, Any]:
        """The Lytics record for one source record of this stream."""
        if self.mapping is None:
            return passthrough_record(record)
        return map_record(self.mapping, record)

    @property
    def identity_paths(self) -> tuple[tuple[str, Path], ...]:
        """Where the identifier values sit in the records sent (none for unmapped streams)."""
        return self.mapping.identity_paths if self.mapping else ()


def lytics_stream_of(
    singer_stream: str, mapping: StreamMapping | None, stream_setting: str | None
) -> str:
    """The Lytics stream a Singer stream's records go to: setting, else mapping, else its name."""
    return stream_setting or (mapping and mapping.lytics_stream) or singer_stream


def plan_stream(
    singer_stream: str,
    mappings: dict[str, StreamMapping],
    *,
    stream_setting: str | None = None,
    timestamp_setting: str | None = None,
) -> StreamPlan:
    """Decide a stream's Lytics stream and timestamp field: setting, else mapping, else default.

    A mapped stream whose timestamp field comes from the setting carries it from the source field
    of the same name (see `carried_fields`).
    """
    mapping = mappings.get(singer_stream)
    lytics_stream = lytics_stream_of(singer_stream, mapping, stream_setting)
    timestamp_field = timestamp_setting or (mapping.timestamp_field if mapping else None)
    if mapping and timestamp_field != mapping.timestamp_field:
        mapping = StreamMapping(
            lytics_stream=mapping.lytics_stream,
            timestamp_field=timestamp_field,
            fields=mapping.fields,
        )
    return StreamPlan(lytics_stream=lytics_stream, timestamp_field=timestamp_field, mapping=mapping)
