"""Turn Singer records into Lytics records: the declarative field table and the functions using it.

Everything here is pure (no I/O, no Singer, no HTTP) so every row of the table can be unit-tested
and the sink stays a thin shell.

The field table is plain JSON-like data, in exactly the form users write in the `mapping` setting,
so there is one format to document and one parser for both (see `DEFAULT_MAPPING`)::

    {
      "<singer stream>": {
        "stream": "<Lytics stream>",           # optional, default: the Singer stream name
        "timestamp_field": "<Lytics field>",   # optional, sent as ?timestamp_field=
        "fields": {
          "<Lytics field>": "<source path>",   # shorthand for {"from": "<source path>"}
          "<Lytics field>": {
            "from": "<path>" | ["<path>", ...],  # first non-empty value wins
            "as": "value" | "list" | "map",      # default "value"
            "key": "<path>" | ["<path>", ...]    # "map" only: the map's key
          },
          "<Lytics field>": null               # in an override: drop a default field
        }
      },
      "<singer stream>": null                  # in an override: send this stream unmapped
    }

Source paths are dotted (`conversion_data.email` reads `record["conversion_data"]["email"]`).
Empty values (None, blank strings, empty lists and objects) are never sent: Lytics would store
them and erase the profile's existing value.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal, cast

Shape = Literal["value", "list", "map"]
SHAPES: Final[tuple[Shape, ...]] = ("value", "list", "map")

#: The Lytics Wistia integration's documented field table (lytics-api.md), including the field
#: names Lytics spells `wisita_...` and `..._duation`: existing Lytics accounts hold those fields,
#: so they are the defaults; rename them through the `mapping` setting.
#: Name and email sources list the tap's resolved field first, then Wistia's raw
#: `conversion_data` object, so the same table also reads raw `wistia_events` records.
DEFAULT_MAPPING: Final[dict[str, Any]] = {
    "wistia_activity": {
        "stream": "wistia_activity",
        "timestamp_field": "ended_at",
        "fields": {
            "wistia_country": "country",
            "wistia_state": "region",
            "wistia_city": "city",
            "wistia_org": "org",
            "wistia_percent_viewed": "percent_viewed",
            "wistia_duration_viewed": "duration_viewed",
            "wistia_media_names": {"from": "media_name", "as": "list"},
            "wisita_media_ids": {"from": "media_id", "as": "list"},
            "wisita_media_percent": {"from": "percent_viewed", "as": "map", "key": "media_id"},
            "wistia_media_duation": {"from": "duration_viewed", "as": "map", "key": "media_id"},
            "first_name": {"from": ["first_name", "conversion_data.first_name"]},
            "last_name": {"from": ["last_name", "conversion_data.last_name"]},
            "email": {"from": ["email", "conversion_data.email"]},
            "wistia_visitor_key": "visitor_key",
            "ended_at": "ended_at",
        },
    },
}


#: The fields Lytics' Wistia integration declares as unique identifiers: profiles merge on them.
IDENTITY_FIELDS: Final[tuple[str, ...]] = ("email", "wistia_visitor_key")


class MappingConfigError(ValueError):
    """The `mapping` setting cannot be used; `errors` says where and how to fix it.

    A separate type so the target can report every problem at once as a settings error.
    """

    def __init__(self, errors: list[str]) -> None:
        """Keep the individual problems for the settings report."""
        super().__init__("; ".join(errors))
        self.errors = errors


Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one Lytics field is computed from a source record (one row of the table)."""

    sources: tuple[Path, ...]
    shape: Shape = "value"
    keys: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """The parsed mapping of one Singer stream."""

    lytics_stream: str | None
    timestamp_field: str | None
    fields: dict[str, FieldRule] = field(default_factory=dict)
    compiled: _Compiled = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile once so that applying the mapping per record stays cheap."""
        object.__setattr__(self, "compiled", _compile(self.fields))


# --------------------------------------------------------------------------------------------
# Emptiness and passthrough flattening
# --------------------------------------------------------------------------------------------


def lytics_value(value: Any) -> Any:
    """Return `value` in a shape Lytics accepts, or None when nothing is worth sending.

    Blank values (None, blank strings, empty lists and objects, NaN and infinities, which JSON
    cannot carry) are dropped at every depth: Lytics would store them and erase the profile's
    existing value. Lytics takes nested objects and arrays of scalars but rejects arrays holding
    objects or arrays; those become objects keyed by position ("0", "1", ...), so nothing is lost.
    """
    if isinstance(value, dict):
        nested = {str(k): v for k, item in value.items() if (v := lytics_value(item)) is not None}
        return nested or None
    if isinstance(value, list):
        return _lytics_array(value)
    return _lytics_scalar(value)


def _lytics_array(value: list[Any]) -> Any:
    items = [lytics_value(item) for item in value]
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
# Applying a mapping
# --------------------------------------------------------------------------------------------


def _lookup(record: dict[str, Any], path: Path) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _first_present(record: dict[str, Any], paths: tuple[str | Path, ...]) -> Any:
    """The first non-blank value among `paths`, ready for Lytics (this runs per source field)."""
    for path in paths:
        value = record.get(path) if isinstance(path, str) else _lookup(record, path)
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


_VALUE, _LIST, _MAP = 0, 1, 2
_SHAPE_CODES: Final[dict[Shape, int]] = {"value": _VALUE, "list": _LIST, "map": _MAP}


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A mapping reshaped for speed: every distinct source is read once per record."""

    sources: tuple[tuple[str | Path, ...], ...]
    rules: tuple[tuple[str, int, int, int], ...]  # (Lytics field, shape, source, key source)


def _compile(fields: dict[str, FieldRule]) -> _Compiled:
    slots: dict[tuple[Path, ...], int] = {}

    def slot(paths: tuple[Path, ...]) -> int:
        return slots.setdefault(paths, len(slots))

    rules = tuple(
        (name, _SHAPE_CODES[rule.shape], slot(rule.sources), slot(rule.keys) if rule.keys else -1)
        for name, rule in fields.items()
    )
    sources = tuple(tuple(path[0] if len(path) == 1 else path for path in paths) for paths in slots)
    return _Compiled(sources=sources, rules=rules)


def map_record(mapping: StreamMapping, record: dict[str, Any]) -> dict[str, Any]:
    """Build the Lytics record of one source record; fields without a value are left out."""
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
    for name, shape, source, key_source in compiled.rules:
        value = values[source]
        if value is None:
            continue
        if shape == _VALUE:
            out[name] = value
        elif shape == _LIST:
            cls = value.__class__
            out[name] = value if cls is list else {"0": value} if cls is dict else [value]
        elif (key := values[key_source]) is not None:
            out[name] = {str(key): value}
    return out


# --------------------------------------------------------------------------------------------
# Parsing and merging the table
# --------------------------------------------------------------------------------------------


def merge_mapping(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Lay a user's `mapping` setting over the defaults, per stream and per field.

    `stream` and `timestamp_field` replace the default's; `fields` are merged key by key and a
    null field drops the default row; a null stream drops the whole default mapping.
    """
    merged = copy.deepcopy(base)
    for stream, spec in override.items():
        current = merged.get(stream)
        if spec is None or not isinstance(spec, dict) or not isinstance(current, dict):
            merged[stream] = copy.deepcopy(spec)
            continue
        for key, value in spec.items():
            if key == "fields" and isinstance(value, dict) and isinstance(current.get(key), dict):
                current[key].update(copy.deepcopy(value))
            else:
                current[key] = copy.deepcopy(value)
    return merged


def _parse_paths(raw: Any, where: str, errors: list[str]) -> tuple[Path, ...]:
    candidates = [raw] if isinstance(raw, str) else raw
    if not isinstance(candidates, list) or not candidates:
        errors.append(f'{where}: give a source path like "country" or a list of paths')
        return ()
    paths: list[Path] = []
    for candidate in candidates:
        parts = tuple(candidate.split(".")) if isinstance(candidate, str) else ()
        if not parts or not all(parts):
            errors.append(
                f'{where}: {candidate!r} is not a dotted path like "conversion_data.email"'
            )
            continue
        paths.append(parts)
    return tuple(paths)


_RULE_KEYS: Final = frozenset({"from", "as", "key"})


def _parse_rule(raw: Any, where: str, errors: list[str]) -> FieldRule | None:
    if isinstance(raw, str):
        raw = {"from": raw}
    if not isinstance(raw, dict):
        errors.append(f'{where}: use a source path or an object with "from", "as", "key"')
        return None
    if unknown := sorted(set(raw) - _RULE_KEYS):
        errors.append(f"{where}: unknown key(s) {unknown}; allowed: from, as, key")
    shape = raw.get("as", "value")
    if shape not in SHAPES:
        errors.append(f"{where}.as: {shape!r} is not one of {', '.join(SHAPES)}")
        return None
    sources = _parse_paths(raw.get("from"), f"{where}.from", errors)
    keys: tuple[Path, ...] = ()
    if shape == "map":
        keys = _parse_paths(raw.get("key"), f"{where}.key", errors)
    elif "key" in raw:
        errors.append(f'{where}.key: only a rule with "as": "map" takes a key')
    return FieldRule(sources=sources, shape=cast("Shape", shape), keys=keys)


def _optional_name(spec: dict[str, Any], key: str, where: str, errors: list[str]) -> str | None:
    value = spec.get(key)
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    errors.append(f"{where}.{key}: must be a non-empty string (got {value!r})")
    return None


_STREAM_KEYS: Final = frozenset({"stream", "timestamp_field", "fields"})


def _parse_stream(spec: Any, where: str, errors: list[str]) -> StreamMapping | None:
    if not isinstance(spec, dict):
        errors.append(f'{where}: must be an object with "stream", "timestamp_field", "fields"')
        return None
    if unknown := sorted(set(spec) - _STREAM_KEYS):
        errors.append(
            f"{where}: unknown key(s) {unknown}; allowed: fields, stream, timestamp_field"
        )
    raw_fields = spec.get("fields", {})
    if not isinstance(raw_fields, dict):
        errors.append(f"{where}.fields: must be an object of Lytics field -> source")
        raw_fields = {}
    fields: dict[str, FieldRule] = {}
    for name, raw_rule in raw_fields.items():
        if raw_rule is None:
            continue
        if not name.strip():
            errors.append(f"{where}.fields: a Lytics field name cannot be empty")
        elif rule := _parse_rule(raw_rule, f"{where}.fields.{name}", errors):
            fields[name] = rule
    return StreamMapping(
        lytics_stream=_optional_name(spec, "stream", where, errors),
        timestamp_field=_optional_name(spec, "timestamp_field", where, errors),
        fields=fields,
    )


def parse_mapping(raw: Any, setting: str = "mapping") -> dict[str, StreamMapping]:
    """Check a whole mapping table and compile it; null streams are left out (sent unmapped).

    Raises:
        MappingConfigError: with every problem found, each naming its place in the setting.
    """
    if not isinstance(raw, dict):
        msg = f"{setting}: must be an object of Singer stream -> stream mapping"
        raise MappingConfigError([msg])
    errors: list[str] = []
    parsed: dict[str, StreamMapping] = {}
    for stream, spec in raw.items():
        if spec is not None and (mapping := _parse_stream(spec, f"{setting}.{stream}", errors)):
            parsed[stream] = mapping
    if errors:
        raise MappingConfigError(errors)
    return parsed


def mappings_from_setting(override: Any) -> dict[str, StreamMapping]:
    """Compile the default table with the user's `mapping` setting laid over it."""
    if override is None:
        return parse_mapping(DEFAULT_MAPPING)
    if not isinstance(override, dict):
        msg = "mapping: must be an object of Singer stream -> stream mapping"
        raise MappingConfigError([msg])
    return parse_mapping(merge_mapping(DEFAULT_MAPPING, override))


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


def plan_stream(
    singer_stream: str,
    mappings: dict[str, StreamMapping],
    *,
    stream_setting: str | None = None,
    timestamp_setting: str | None = None,
) -> StreamPlan:
    """Decide a stream's Lytics stream and timestamp field: setting, else mapping, else default.

    A mapped stream whose timestamp field is not one of its output fields gets it copied from
    the source field of the same name, so `timestamp_field` always names a field Lytics receives.
    """
    mapping = mappings.get(singer_stream)
    lytics_stream = stream_setting or (mapping and mapping.lytics_stream) or singer_stream
    timestamp_field = timestamp_setting or (mapping.timestamp_field if mapping else None)
    if mapping and timestamp_field and timestamp_field not in mapping.fields:
        rule = FieldRule(sources=(tuple(timestamp_field.split(".")),))
        mapping = StreamMapping(
            lytics_stream=mapping.lytics_stream,
            timestamp_field=timestamp_field,
            fields={**mapping.fields, timestamp_field: rule},
        )
    return StreamPlan(lytics_stream=lytics_stream, timestamp_field=timestamp_field, mapping=mapping)
