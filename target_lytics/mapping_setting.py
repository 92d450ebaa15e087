"""The `mapping` setting: its format, its default (Lytics' Wistia table), and its parser.

The table is plain JSON-like data, in exactly the form users write in the setting, so there is
one format to document and one parser for both (see `DEFAULT_MAPPING`)::

    {
      "<singer stream>": {
        "stream": "<Lytics stream>",            # optional, default: the Singer stream name
        "timestamp_field": "<stream field>",    # optional, sent as ?timestamp_field=
        "fields": {
          "<user field>": "<source path>",      # shorthand for {"from": "<source path>"}
          "<user field>": {
            "from": "<path>" | ["<path>", ...],   # first non-empty value wins
            "as": "value" | "list" | "map" | "email",  # the mapping: x, set(x), map(k, x), email(x)
            "key": "<path>" | ["<path>", ...],    # "map" only: the map's key
            "stream_field": "<path>",           # the stream field carrying it (default: from)
            "type": "string", "merge": "latest", # the user field (defaults follow "as")
            "identifier": false, "description": "...", "pii": false
          },
          "<user field>": null                  # in an override: drop a default field
        }
      },
      "<singer stream>": null                   # in an override: send this stream unmapped
    }

Source paths are dotted (`conversion_data.email` reads `record["conversion_data"]["email"]`);
a stream field path is sent nested the same way. A user field named in several streams has one
definition: rows that leave a key out take it from the row that gives it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any, Final, cast, get_args

from target_lytics.field_types import (
    DEFAULT_TYPES,
    SHAPE_TYPES,
    TYPES,
    Shape,
    default_merge_op,
    merge_ops,
    normal_type,
)
from target_lytics.mapping import FieldDefinition, FieldRule, Path, StreamMapping, carried_fields

#: The Lytics Wistia integration's documented table (lytics-api.md): the *mapping of the stream*
#: `wistia_activity`. Stream fields are the source fields exactly as Lytics' own import names
#: them (`conversion.first_name`, `conversion_data.email`, ...), so an account set up by that
#: import keeps working; user field names are Lytics' own, `wisita_...` and `..._duation`
#: included (existing accounts hold those fields). Names and email read the tap's resolved field
#: first, then Wistia's raw `conversion_data`, so the table also reads raw `wistia_events`.
DEFAULT_MAPPING: Final[dict[str, Any]] = {
    "wistia_activity": {
        "stream": "wistia_activity",
        "timestamp_field": "ended_at",
        "fields": {
            "wistia_country": {
                "from": "country",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Last Viewed Country",
            },
            "wistia_state": {
                "from": "region",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Last Viewed State",
            },
            "wistia_city": {
                "from": "city",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Last Viewed City",
            },
            "wistia_org": {
                "from": "org",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Last Viewed Org",
            },
            "wistia_percent_viewed": {
                "from": "percent_viewed",
                "type": "number",
                "merge": "latest",
                "description": "Wistia Last Viewed Percent",
            },
            "wistia_duration_viewed": {
                "from": "duration_viewed",
                "type": "number",
                "merge": "latest",
                "description": "Wistia Last Viewed Duration",
            },
            "wistia_media_names": {
                "from": "media_name",
                "as": "list",
                "type": "[]string",
                "merge": "merge",
                "description": "Wistia Viewed Media Names",
            },
            "wisita_media_ids": {
                "from": "media_id",
                "as": "list",
                "type": "[]string",
                "merge": "merge",
                "description": "Wistia Viewed Media IDs",
            },
            "wisita_media_percent": {
                "from": "percent_viewed",
                "as": "map",
                "key": "media_id",
                "type": "map[string]number",
                "merge": "merge",
                "description": "Wisita Viewed Media Percent",
            },
            "wistia_media_duation": {
                "from": "duration_viewed",
                "as": "map",
                "key": "media_id",
                "type": "map[string]number",
                "merge": "merge",
                "description": "Wistia Viewed Media Duration",
            },
            "first_name": {
                "from": ["first_name", "conversion_data.first_name"],
                "stream_field": "conversion.first_name",
                "type": "string",
                "merge": "latest",
                "description": "First Name",
                "pii": True,
            },
            "last_name": {
                "from": ["last_name", "conversion_data.last_name"],
                "stream_field": "conversion.last_name",
                "type": "string",
                "merge": "latest",
                "description": "Last Name",
                "pii": True,
            },
            "email": {
                "from": ["email", "conversion_data.email"],
                "stream_field": "conversion_data.email",
                "as": "email",
                "type": "string",
                "identifier": True,
                "description": "Email Address",
                "pii": True,
            },
            "wistia_visitor_key": {
                "from": "visitor_key",
                "type": "string",
                "identifier": True,
                "description": "Wistia Visitor Key",
            },
        },
    },
    # tap-wistia's wistia_visitors (not selected by default): who a viewer is, joined to the
    # same profiles on the same identifiers. Stream fields keep Wistia's own names
    # (`visitor_identity.org.title`); user fields follow the documented table's style. Like
    # every stream, checked when it arrives: a run that never sends it never asks for them.
    "wistia_visitors": {
        "stream": "wistia_visitors",
        "timestamp_field": "last_active_at",
        "fields": {
            "wistia_visitor_key": {"from": "visitor_key"},
            "email": {
                "from": "email",
                "stream_field": "visitor_identity.email",
                "as": "email",
            },
            "wistia_visitor_name": {
                "from": "name",
                "stream_field": "visitor_identity.name",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Visitor Name",
                "pii": True,
            },
            "wistia_visitor_org": {
                "from": "org_name",
                "stream_field": "visitor_identity.org.name",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Visitor Organization",
            },
            "wistia_visitor_title": {
                "from": "org_title",
                "stream_field": "visitor_identity.org.title",
                "type": "string",
                "merge": "latest",
                "description": "Wistia Visitor Title",
            },
            "wistia_load_count": {
                "from": "load_count",
                "type": "int",
                "merge": "latest",
                "description": "Wistia Load Count",
            },
            "wistia_play_count": {
                "from": "play_count",
                "type": "int",
                "merge": "latest",
                "description": "Wistia Play Count",
            },
            "wistia_last_active": {
                "from": "last_active_at",
                "type": "date",
                "merge": "latest",
                "description": "Wistia Last Active",
            },
            "wistia_first_seen": {
                "from": "created_at",
                "type": "date",
                "merge": "oldest",
                "description": "Wistia First Seen",
            },
        },
    },
}

SHAPES: Final[tuple[Shape, ...]] = get_args(Shape)
_RULE_KEYS: Final = frozenset(
    {"from", "as", "key", "stream_field", "type", "merge", "identifier", "description", "pii"}
)
_DEFINITION_KEYS: Final = ("type", "merge", "identifier", "description", "pii")
_STREAM_KEYS: Final = frozenset({"stream", "timestamp_field", "fields", "on_arrival"})
_LQL_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MappingConfigError(ValueError):
    """The `mapping` setting cannot be used; `errors` says where and how to fix it.

    A separate type so the target can report every problem at once as a settings error.
    """

    def __init__(self, errors: list[str]) -> None:
        """Keep the individual problems for the settings report."""
        super().__init__("; ".join(errors))
        self.errors = errors


# --------------------------------------------------------------------------------------------
# Merging a user's setting over the defaults
# --------------------------------------------------------------------------------------------


def _as_rule(value: Any) -> Any:
    return {"from": value} if isinstance(value, str) else value


def merge_mapping(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Lay a user's `mapping` setting over the defaults, per stream, per field, per key.

    `stream` and `timestamp_field` replace the default's; a field object is laid over the
    default row key by key (so `{"from": "geo_city"}` keeps the row's type and description); a
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
                _merge_fields(current[key], value)
            else:
                current[key] = copy.deepcopy(value)
    return merged


def _merge_fields(current: dict[str, Any], override: dict[str, Any]) -> None:
    for name, value in override.items():
        row, base = _as_rule(value), _as_rule(current.get(name))
        if isinstance(row, dict) and isinstance(base, dict):
            current[name] = {**base, **copy.deepcopy(row)}
        else:
            current[name] = copy.deepcopy(value)


# --------------------------------------------------------------------------------------------
# Parsing one row
# --------------------------------------------------------------------------------------------


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


def _stream_field(
    raw: Any, fallback: tuple[Path, ...], where: str, errors: list[str], hint: str = ""
) -> Path:
    """The stream field carrying a value: given, else the first source path."""
    if raw is None:
        path = fallback[0] if fallback else ()
    elif isinstance(raw, str):
        path, hint = tuple(raw.split(".")), ""
    else:
        errors.append(f'{where}: must be a dotted path like "conversion_data.email"')
        return ()
    if path and not all(_LQL_NAME.fullmatch(part) for part in path):
        errors.append(
            f"{where}: {'.'.join(path)!r} cannot be a Lytics stream field (letters, digits and "
            f"_ only, not starting with a digit){hint}"
        )
    return path


def _definition(
    raw: dict[str, Any], shape: Shape, where: str, errors: list[str]
) -> FieldDefinition | None:
    """The user field a row describes, its omitted keys following its shape; checked for Lytics."""
    problems: list[str] = []
    type_name = raw.get("type", DEFAULT_TYPES[shape])
    identifier = raw.get("identifier", False)
    description = raw.get("description", "")
    pii = raw.get("pii", False)
    if not isinstance(type_name, str) or normal_type(type_name) not in TYPES:
        problems.append(f"{where}.type: {type_name!r} is not a Lytics type; use one of {TYPES}")
    elif normal_type(type_name) not in SHAPE_TYPES[shape]:
        problems.append(
            f'{where}.type: a row "as": "{shape}" fills {", ".join(SHAPE_TYPES[shape])}, '
            f"not {type_name!r}"
        )
    for key, value in (("identifier", identifier), ("pii", pii)):
        if not isinstance(value, bool):
            problems.append(f"{where}.{key}: must be true or false (got {value!r})")
    if not isinstance(description, str):
        problems.append(f"{where}.description: must be a string")
    merge = raw.get("merge")
    if identifier is True and merge is not None:
        problems.append(
            f"{where}.merge: an identifier field takes no merge op (Lytics joins profiles on "
            "it and refuses one); remove merge"
        )
    elif not problems and merge is not None and merge not in merge_ops(type_name):
        allowed = merge_ops(type_name)
        problems.append(
            f"{where}.merge: {merge!r} does not merge a {type_name} field; use one of "
            f"{', '.join(allowed)}"
            if allowed
            else f"{where}.merge: a {type_name} field takes no merge op (Lytics refuses one); "
            "remove merge"
        )
    if problems:
        errors.extend(problems)
        return None
    type_name = normal_type(type_name)
    return FieldDefinition(
        type=type_name,
        merge_op=None if identifier else merge or default_merge_op(type_name),
        identifier=identifier,
        description=description,
        pii=pii,
    )


def _parse_rule(raw: Any, where: str, errors: list[str]) -> FieldRule | None:
    raw = _as_rule(raw)
    if not isinstance(raw, dict):
        errors.append(f'{where}: use a source path or an object with "from", "as", "key", ...')
        return None
    if unknown := sorted(set(raw) - _RULE_KEYS):
        errors.append(
            f"{where}: unknown key(s) {unknown}; allowed: {', '.join(sorted(_RULE_KEYS))}"
        )
    shape = raw.get("as", "value")
    if shape not in SHAPES:
        errors.append(f"{where}.as: {shape!r} is not one of {', '.join(SHAPES)}")
        return None
    shape = cast("Shape", shape)
    sources = _parse_paths(raw.get("from"), f"{where}.from", errors)
    stream_field = _stream_field(
        raw.get("stream_field"),
        sources,
        f"{where}.from",
        errors,
        hint=f"; name the stream field that carries it with {where}.stream_field",
    )
    keys: tuple[Path, ...] = ()
    key_field: Path = ()
    if shape == "map":
        keys = _parse_paths(raw.get("key"), f"{where}.key", errors)
        key_field = _stream_field(None, keys, f"{where}.key", errors)
    elif "key" in raw:
        errors.append(f'{where}.key: only a row with "as": "map" takes a key')
    definition = _definition(raw, shape, where, errors)
    if definition is None or not sources or not stream_field or (shape == "map" and not key_field):
        return None
    return FieldRule(
        sources=sources,
        stream_field=stream_field,
        definition=definition,
        shape=shape,
        keys=keys,
        key_field=key_field,
    )


# --------------------------------------------------------------------------------------------
# Parsing the table
# --------------------------------------------------------------------------------------------


def _optional_name(spec: dict[str, Any], key: str, where: str, errors: list[str]) -> str | None:
    value = spec.get(key)
    if value is None or (isinstance(value, str) and value.strip()):
        return value
    errors.append(f"{where}.{key}: must be a non-empty string (got {value!r})")
    return None


def _parse_stream(
    spec: Any, where: str, errors: list[str]
) -> tuple[dict[str, Any], StreamMapping] | None:
    if not isinstance(spec, dict):
        errors.append(f'{where}: must be an object with "stream", "timestamp_field", "fields"')
        return None
    if unknown := sorted(set(spec) - _STREAM_KEYS):
        errors.append(
            f"{where}: unknown key(s) {unknown}; allowed: fields, on_arrival, stream, "
            "timestamp_field"
        )
    # `on_arrival` is accepted from older settings: every stream is now checked on arrival.
    if not isinstance(spec.get("on_arrival", False), bool):
        errors.append(f"{where}.on_arrival: must be true or false (got {spec['on_arrival']!r})")
    raw_fields = spec.get("fields", {})
    if not isinstance(raw_fields, dict):
        errors.append(f"{where}.fields: must be an object of Lytics field -> source")
        raw_fields = {}
    rows: dict[str, Any] = {}
    for name, raw_rule in raw_fields.items():
        if raw_rule is None:
            continue
        if not name.strip():
            errors.append(f"{where}.fields: a Lytics field name cannot be empty")
            continue
        rows[name] = _as_rule(raw_rule)
    mapping = StreamMapping(
        lytics_stream=_optional_name(spec, "stream", where, errors),
        timestamp_field=_optional_name(spec, "timestamp_field", where, errors),
    )
    return rows, mapping


def _given_definitions(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The definition keys each user field's rows give in a table (the first row's win)."""
    given: dict[str, dict[str, Any]] = {}
    for spec in table.values():
        for name, row in (spec or {}).get("fields", {}).items():
            if isinstance(row, dict):
                for key in _DEFINITION_KEYS:
                    if key in row:
                        given.setdefault(name, {}).setdefault(key, row[key])
    return given


_DEFAULT_DEFINITIONS: Final = _given_definitions(DEFAULT_MAPPING)


def _shared_definitions(
    parsed: dict[str, tuple[dict[str, Any], StreamMapping]],
    setting: str,
    errors: list[str],
    fallback: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """One definition per user field across streams; rows that disagree are reported.

    A key no row gives comes from `fallback` (the default table's), so a field keeps its
    definition when the stream that gave it is set to null.
    """
    given: dict[str, dict[str, tuple[str, Any]]] = {}
    for stream, (rows, _) in parsed.items():
        for name, row in rows.items():
            if not isinstance(row, dict):
                continue
            for key in _DEFINITION_KEYS:
                if key not in row:
                    continue
                seen = given.setdefault(name, {}).setdefault(key, (stream, row[key]))
                if seen[1] != row[key]:
                    errors.append(
                        f"{setting}.{stream}.fields.{name}.{key}: {row[key]!r} differs from "
                        f"{seen[1]!r} in {setting}.{seen[0]}; a user field has one definition"
                    )
    return {
        name: {**fallback.get(name, {}), **{key: value for key, (_, value) in keys.items()}}
        for name, keys in given.items()
    } | {name: keys for name, keys in fallback.items() if name not in given}


def parse_mapping(
    raw: Any, setting: str = "mapping", fallback: dict[str, dict[str, Any]] | None = None
) -> dict[str, StreamMapping]:
    """Check a whole mapping table and compile it; null streams are left out (sent unmapped).

    `fallback`: definition keys for user fields whose rows give none (see `_shared_definitions`).

    Raises:
        MappingConfigError: with every problem found, each naming its place in the setting.
    """
    if not isinstance(raw, dict):
        msg = f"{setting}: must be an object of Singer stream -> stream mapping"
        raise MappingConfigError([msg])
    errors: list[str] = []
    parsed: dict[str, tuple[dict[str, Any], StreamMapping]] = {}
    for stream, spec in raw.items():
        if spec is not None and (found := _parse_stream(spec, f"{setting}.{stream}", errors)):
            parsed[stream] = found
    shared = _shared_definitions(parsed, setting, errors, fallback or {})
    mappings: dict[str, StreamMapping] = {}
    defined: dict[str, tuple[str, FieldDefinition]] = {}
    for stream, (rows, mapping) in parsed.items():
        fields: dict[str, FieldRule] = {}
        for name, row in rows.items():
            full = {**row, **shared.get(name, {})} if isinstance(row, dict) else row
            where = f"{setting}.{stream}.fields.{name}"
            rule = _parse_rule(full, where, errors)
            if rule is None:
                continue
            fields[name] = rule
            first = defined.setdefault(name, (stream, rule.definition))
            if first[1] != rule.definition:
                errors.append(
                    f"{where}: defines the user field as {rule.definition.type} where "
                    f"{setting}.{first[0]} makes it {first[1].type}; give both rows one type"
                )
        _, problems = carried_fields(fields, mapping.timestamp_field)
        errors += [f"{setting}.{stream}.{problem}" for problem in problems]
        mappings[stream] = replace(mapping, fields=fields)
    if errors:
        raise MappingConfigError(errors)
    return mappings


def mappings_from_setting(override: Any) -> dict[str, StreamMapping]:
    """Compile the default table with the user's `mapping` setting laid over it."""
    if override is None:
        return parse_mapping(DEFAULT_MAPPING)
    if not isinstance(override, dict):
        msg = "mapping: must be an object of Singer stream -> stream mapping"
        raise MappingConfigError([msg])
    return parse_mapping(merge_mapping(DEFAULT_MAPPING, override), fallback=_DEFAULT_DEFINITIONS)
