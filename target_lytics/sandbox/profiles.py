"""How Lytics turns stream records into user profiles: identity joins and per-field merges.

Pure: plain data in, plain data out, no I/O. The sandbox's store folds stored events through
these functions, and the tests state what a correct profile is with the same definitions.

Every stored event contributes a profile *fragment*: the user-field values its stream's
published mappings give it (``mapper``). Fragments that share an identity value (same field,
same value) belong to one profile, so an anonymous visitor joins their email profile as soon as
one event carries both. Each field merges by an operation (Lytics' ``latest``, ``oldest``,
``min``, ``max``, ``sum``, ``count``, ``merge``, ``capped``, ``latestmap``, ``oldestmap``,
``mapmax``, ``mapmin``); every merge is associative and commutative, so a profile never depends
on arrival order, except that ``latest``/``oldest`` break event-time ties by arrival. The sandbox
does not cap ``capped`` sets (Lytics caps them at the field's capacity): they merge like ``merge``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

Op = Literal[
    "latest",
    "oldest",
    "min",
    "max",
    "sum",
    "count",
    "merge",
    "capped",
    "latestmap",
    "oldestmap",
    "mapmax",
    "mapmin",
]
Kind = Literal[
    "latest", "oldest", "min", "max", "sum", "count", "set", "map", "oldestmap", "mapmax", "mapmin"
]
Key = tuple[int, int]
"""Orders fragments: (event time in microseconds since the epoch, arrival sequence)."""
IdKey = tuple[str, str]
"""One identity value: (identity field, normalised value)."""
Entry = tuple[Key, Any]
"""A field's merged state of one kind: (newest contributing key, kind-specific payload)."""
Profile = dict[str, Any]
"""A rendered profile: merged fields plus ``_ids``, ``_created`` and ``_modified``."""
Event = tuple[int, int, Mapping[str, Any]]
"""A stored event as the merge sees it: (event time µs, arrival sequence, record)."""

WISTIA_MERGED_FIELDS = (
    "wistia_media_names",
    "wisita_media_ids",
    "wisita_media_percent",
    "wistia_media_duation",
)
"""The Wistia integration's ``[]string`` and ``map[string]number`` fields (Lytics' spelling)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MIN_US = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MAX_US = (datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_EPOCH_MS_THRESHOLD = 100_000_000_000  # seconds this large would be past year 5000: they are ms
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def _default_ops() -> dict[str, Op]:
    return dict.fromkeys(WISTIA_MERGED_FIELDS, "merge")


@dataclass(frozen=True, slots=True)
class ProfileSchema:
    """Which fields identify a person and how each field merges.

    Fields without an op merge by the shape of their value: scalars ``latest``, lists and
    objects ``merge`` (set union; per-key latest), so records of any stream build sensible
    profiles without configuration.
    """

    identity_fields: tuple[str, ...] = ("email", "wistia_visitor_key")
    ops: Mapping[str, Op] = field(default_factory=_default_ops)
    email_fields: tuple[str, ...] = ("email",)

    def __post_init__(self) -> None:
        """Refuse unknown ops up front, naming the field, instead of mis-merging later."""
        allowed = get_args(Op)
        for name, op in self.ops.items():
            if op not in allowed:
                msg = f"profile field {name!r}: unknown merge op {op!r}; use one of {allowed}"
                raise ValueError(msg)

    def op_for(self, name: str, value: Any) -> Op:
        """The merge op of a field, inferred from the value's shape when not configured."""
        op = self.ops.get(name)
        if op is not None:
            return op
        return "merge" if isinstance(value, list | dict) else "latest"


DEFAULT_SCHEMA = ProfileSchema()


@dataclass(slots=True)
class ProfileState:
    """A profile before rendering: per field and kind, the mergeable state.

    A field normally has one kind; keeping kinds apart when a field's shape varies keeps the
    merge associative, and rendering shows the kind with the newest contribution.
    """

    fields: dict[str, dict[Kind, Entry]]
    ids: dict[str, set[str]]
    created: int
    modified: int


# --- event time -----------------------------------------------------------------------------


def parse_event_time(value: Any) -> int | None:
    """Microseconds since the epoch for a record's timestamp value, or None if unusable.

    Lytics reads ISO-8601 strings and epoch numbers (seconds, or milliseconds when that large);
    anything else falls back to arrival time, so a bad value never drops a record.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return _parse_time_text(value.strip())
    if isinstance(value, int | float):
        return _epoch_number_us(value)
    return None


def _parse_time_text(text: str) -> int | None:
    looks_like_a_date = "-" in text[1:] or ":" in text
    for parse in (_iso_us, _epoch_text_us) if looks_like_a_date else (_epoch_text_us, _iso_us):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def _iso_us(text: str) -> int | None:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _within_range((moment - _EPOCH) // _MICROSECOND)


def _epoch_text_us(text: str) -> int | None:
    return _epoch_number_us(float(text))


def _epoch_number_us(number: float) -> int | None:
    if not math.isfinite(number):
        return None
    scale = 1_000 if abs(number) >= _EPOCH_MS_THRESHOLD else 1_000_000
    return _within_range(round(number * scale))


def _within_range(us: int) -> int | None:
    return us if _MIN_US <= us <= _MAX_US else None


def iso_time(us: int) -> str:
    """Render microseconds since the epoch the way the tap writes times (UTC, 'Z')."""
    return (_EPOCH + us * _MICROSECOND).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- identities -----------------------------------------------------------------------------


def normalize_identity(name: str, value: Any, schema: ProfileSchema = DEFAULT_SCHEMA) -> str | None:
    """The identity value Lytics would match on, or None when the value cannot identify anyone.

    Identity values are strings; emails are trimmed, lower-cased and must look like an email.
    """
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return None
    text = str(value).strip()
    if name in schema.email_fields:
        text = text.lower()
        if not _EMAIL.fullmatch(text):
            return None
    return text or None


def identities(record: Mapping[str, Any], schema: ProfileSchema) -> dict[str, set[str]]:
    """The identity values a record carries, by identity field."""
    found: dict[str, set[str]] = {}
    for name in schema.identity_fields:
        value = normalize_identity(name, record.get(name), schema)
        if value is not None:
            found[name] = {value}
    return found


# --- fragments and merges -------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_MERGED_IN_PLACE = frozenset({"merge", "capped", "latestmap"})
"""Ops merging a set by union and a map by per-key latest (``_absorb_merge``)."""
_PER_KEY = frozenset({"oldestmap", "mapmax", "mapmin"})


def _kind(op: Op, value: Any) -> Kind | None:
    if op in _MERGED_IN_PLACE:
        return "map" if isinstance(value, dict) else "set"
    if op in _PER_KEY:
        return op if isinstance(value, dict) else None  # type: ignore[return-value]
    if op in ("min", "max", "sum"):
        return op if _is_number(value) else None
    return op  # type: ignore[return-value]


def _set_item(value: Any) -> str:
    """Sets are Lytics ``[]string``: items compare as text (non-strings as their JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _seed(kind: Kind, key: Key, value: Any) -> Any:
    if kind == "oldest":
        return (key, value)
    if kind == "set":
        items = value if isinstance(value, list) else [value]
        return {_set_item(item) for item in items if item is not None}
    if kind in ("map", "oldestmap"):
        return {str(k): (key, v) for k, v in value.items() if v is not None}
    if kind in ("mapmax", "mapmin"):
        return {str(k): v for k, v in value.items() if _is_number(v)}
    if kind == "count":
        return 1
    return value


def fragment(
    event_time: int, seq: int, record: Mapping[str, Any], schema: ProfileSchema = DEFAULT_SCHEMA
) -> ProfileState | None:
    """The profile fragment one event contributes, or None when it identifies nobody."""
    ids = identities(record, schema)
    if not ids:
        return None
    state = ProfileState({}, ids, event_time, event_time)
    absorb_record(state, (event_time, seq), record, schema)
    return state


def absorb_record(
    state: ProfileState, key: Key, record: Mapping[str, Any], schema: ProfileSchema
) -> None:
    """Fold one record's fields into ``state`` in place (identities are the caller's job).

    The hot path of the store's catch-up: equivalent to merging ``fragment(...)`` in, without
    building the fragment. Scalars under ``latest`` (most fields) take the short branch.
    """
    fields = state.fields
    ops = schema.ops
    identity_fields = schema.identity_fields
    for name, raw in record.items():
        value = normalize_identity(name, raw, schema) if name in identity_fields else raw
        if value is None:
            continue
        op = ops.get(name) or ("merge" if isinstance(value, (list, dict)) else "latest")
        kinds = fields.get(name)
        if op == "latest":
            if kinds is None:
                fields[name] = {"latest": (key, value)}
                continue
            current = kinds.get("latest")
            if current is None or key > current[0]:
                kinds["latest"] = (key, value)
            continue
        if kinds is None:
            kinds = fields[name] = {}
        if op in _MERGED_IN_PLACE:
            _absorb_merge(kinds, key, value)
            continue
        kind = _kind(op, value)
        if kind is not None:
            _merge_entry(kinds, kind, (key, _seed(kind, key, value)))
    state.created = min(state.created, key[0])
    state.modified = max(state.modified, key[0])


def _absorb_merge(kinds: dict[Kind, Entry], key: Key, value: Any) -> None:
    """``merge`` one value in place: a set union, or a per-key latest for an object."""
    kind: Kind = "map" if isinstance(value, dict) else "set"
    current = kinds.get(kind)
    if current is None:
        kinds[kind] = (key, _seed(kind, key, value))
        return
    payload = current[1]
    if kind == "set":
        for item in value if isinstance(value, list) else (value,):
            if item is not None:
                payload.add(item if isinstance(item, str) else _set_item(item))
    else:
        for name, item in value.items():
            if item is None:
                continue
            entry = payload.get(name)
            if entry is None or key > entry[0]:
                payload[str(name)] = (key, item)
    if key > current[0]:
        kinds[kind] = (key, payload)


def _merge_sets(into: set[str], other: set[str]) -> set[str]:
    into.update(other)
    return into


def _merge_maps(
    into: dict[str, Entry], other: dict[str, Entry], *, newest: bool = True
) -> dict[str, Entry]:
    for name, entry in other.items():
        current = into.get(name)
        if current is None or (entry[0] > current[0] if newest else entry[0] < current[0]):
            into[name] = entry
    return into


def _merge_numbers(
    into: dict[str, Any], other: dict[str, Any], pick: Callable[[Any, Any], Any]
) -> dict[str, Any]:
    for name, value in other.items():
        into[name] = value if name not in into else pick(into[name], value)
    return into


_PAYLOAD_MERGES: dict[Kind, Callable[[Any, Any, bool], Any]] = {
    "latest": lambda mine, theirs, mine_newer: mine if mine_newer else theirs,
    "oldest": lambda mine, theirs, _: mine if mine[0] < theirs[0] else theirs,
    "min": lambda mine, theirs, _: min(mine, theirs),
    "max": lambda mine, theirs, _: max(mine, theirs),
    "sum": lambda mine, theirs, _: mine + theirs,
    "count": lambda mine, theirs, _: mine + theirs,
    "set": lambda mine, theirs, _: _merge_sets(mine, theirs),
    "map": lambda mine, theirs, _: _merge_maps(mine, theirs),
    "oldestmap": lambda mine, theirs, _: _merge_maps(mine, theirs, newest=False),
    "mapmax": lambda mine, theirs, _: _merge_numbers(mine, theirs, max),
    "mapmin": lambda mine, theirs, _: _merge_numbers(mine, theirs, min),
}
"""Merges two payloads of one kind; set and map merges update the first in place."""


def _merge_entry(kinds: dict[Kind, Entry], kind: Kind, entry: Entry) -> None:
    """Merge an entry this state may own (keep and change) into a field's kinds."""
    current = kinds.get(kind)
    if current is None:
        kinds[kind] = entry
        return
    mine_newer = current[0] > entry[0]
    payload = _PAYLOAD_MERGES[kind](current[1], entry[1], mine_newer)
    kinds[kind] = (current[0] if mine_newer else entry[0], payload)


def _copy_entry(kind: Kind, entry: Entry) -> Entry:
    key, payload = entry
    if kind == "set":
        return key, set(payload)
    if kind in ("map", "oldestmap", "mapmax", "mapmin"):
        return key, dict(payload)
    return entry


def merge_into(state: ProfileState, other: ProfileState) -> ProfileState:
    """Fold ``other`` into ``state`` in place (``other`` is left untouched) and return it.

    The incremental step when two profiles join: cheap, as sets and maps grow in place.
    """
    for name, kinds in other.fields.items():
        mine = state.fields.setdefault(name, {})
        for kind, entry in kinds.items():
            _merge_entry(mine, kind, _copy_entry(kind, entry))
    for name, values in other.ids.items():
        state.ids.setdefault(name, set()).update(values)
    state.created = min(state.created, other.created)
    state.modified = max(state.modified, other.modified)
    return state


def merge_states(first: ProfileState, second: ProfileState) -> ProfileState:
    """The profile both states describe, as a new state (neither input changes)."""
    copy = ProfileState({}, {}, first.created, first.modified)
    return merge_into(merge_into(copy, first), second)


def _render_field(kinds: Mapping[Kind, Entry]) -> Any:
    kind, (_, payload) = max(kinds.items(), key=lambda item: item[1][0])
    if kind == "oldest":
        return payload[1]
    if kind == "set":
        return sorted(payload)
    if kind in ("map", "oldestmap"):
        return {name: value for name, (_, value) in sorted(payload.items())}
    if kind in ("mapmax", "mapmin"):
        return dict(sorted(payload.items()))
    return payload


def render(state: ProfileState) -> Profile:
    """The profile as the entity API shows it."""
    profile: Profile = {name: _render_field(kinds) for name, kinds in sorted(state.fields.items())}
    profile["_ids"] = {name: sorted(values) for name, values in sorted(state.ids.items())}
    profile["_created"] = iso_time(state.created)
    profile["_modified"] = iso_time(state.modified)
    return profile


# --- identity resolution --------------------------------------------------------------------


class ProfileBook:
    """Profiles built incrementally from events: union-find over identity values.

    Adding events in any order, in any number of steps, gives the profiles ``merge_fragments``
    gives for all of them at once; the store relies on that to catch up lazily.
    """

    def __init__(self, schema: ProfileSchema = DEFAULT_SCHEMA) -> None:
        """Start empty; ``schema`` says which fields identify people and how fields merge."""
        self.schema = schema
        self._parent: dict[IdKey, IdKey] = {}
        self._states: dict[IdKey, ProfileState] = {}

    def __len__(self) -> int:
        """The number of distinct profiles."""
        return len(self._states)

    def add(self, event_time: int, seq: int, record: Mapping[str, Any]) -> None:
        """Fold one event in, joining every profile it shares an identity value with."""
        ids = identities(record, self.schema)
        if ids:
            state = self._join(ids, ProfileState({}, ids, event_time, event_time))
            absorb_record(state, (event_time, seq), record, self.schema)

    def add_fragment(self, piece: ProfileState) -> None:
        """Fold a fragment (or any partial profile) in; ``piece`` itself is not kept."""
        fresh = ProfileState({}, {}, piece.created, piece.modified)
        merge_into(self._join(piece.ids, fresh), piece)

    def _join(self, ids: Mapping[str, set[str]], fresh: ProfileState) -> ProfileState:
        """The one state every profile holding one of ``ids`` now shares (``fresh`` if none)."""
        keys = [(name, value) for name, values in ids.items() for value in values]
        roots = {self._root(key) for key in keys if key in self._parent}
        if not roots:
            root = keys[0]
            self._states[root] = state = fresh
        elif len(roots) == 1:
            root = next(iter(roots))
            state = self._states[root]
        else:
            root = max(roots, key=lambda r: sum(map(len, self._states[r].ids.values())))
            state = self._states[root]
            for other in roots - {root}:
                self._parent[other] = root
                merge_into(state, self._states.pop(other))
        for key in keys:
            if key not in self._parent:
                self._parent[key] = root
                state.ids.setdefault(key[0], set()).add(key[1])
        return state

    def _root(self, key: IdKey) -> IdKey:
        parent = self._parent[key]
        while parent != key:
            grandparent = self._parent[parent]
            self._parent[key] = grandparent
            key, parent = parent, grandparent
        return key

    def find(self, name: str, value: Any) -> Profile | None:
        """The profile holding an identity value, or None."""
        normalized = normalize_identity(name, value, self.schema)
        key = (name, normalized)
        if normalized is None or key not in self._parent:
            return None
        return render(self._states[self._root(key)])

    def profiles(self, limit: int | None = None, offset: int = 0) -> list[Profile]:
        """Profiles, oldest first (ties by smallest identity), one page of them."""
        ordered = sorted(self._states.values(), key=_profile_order)
        end = None if limit is None else offset + limit
        return [render(state) for state in ordered[offset:end]]


def _profile_order(state: ProfileState) -> tuple[int, IdKey]:
    first_id = min((name, value) for name, values in state.ids.items() for value in values)
    return state.created, first_id


def merge_fragments(
    events: Iterable[Event], schema: ProfileSchema = DEFAULT_SCHEMA
) -> list[Profile]:
    """All profiles the events build, oldest first: the reference result of the merge."""
    book = ProfileBook(schema)
    for event_time, seq, record in events:
        book.add(event_time, seq, record)
    return book.profiles()
