"""How the viewing streams' messages leave the tap: the one place it reaches around the SDK.

The run writes `wistia_events` and `wistia_activity` records as it reads them (one read feeds
both streams, bookmarks move only at watermarks; see `tap_wistia.run`), not through each
stream's `get_records`. So the messages the SDK would write from its sync loop are written
from here, each the SDK's way:

- SCHEMA: `Stream._write_schema_message`, the SDK's own (private), for the stream that does
  not drive the run: its records are written before its own sync begins.
- RECORD: the SDK's pipeline (`Stream._write_record_message`, private: prune deselected
  fields, conform every value, stream maps, write) costs about 115 µs a record here, 100 of
  them pruning and conformance that change nothing for records decoded from JSON against the
  tap's own schema. `Conformance` tells in about 9 µs when that is so; such a record goes to
  the stream maps and the writer through public API (about 16 µs in all), any other record
  takes the SDK's pipeline. `tests/test_output.py` writes records of every shape both ways and
  compares the bytes, with stream maps, selection and flattening.
- STATE: the tap's public `state_writer`.
- Metrics: records are counted on the SDK's own record counter (`Stream.get_record_counter`,
  public), so `record_count` says what was written.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from singer_sdk import singerlib

if TYPE_CHECKING:
    from collections.abc import Mapping

    from singer_sdk import Stream, Tap
    from singer_sdk.metrics import Counter

#: Values conformance never changes, except under a boolean-only schema (checked apart).
_UNTOUCHED = frozenset({str, int, bool, type(None)})


def _kinds(schema: Mapping[str, Any]) -> list[Any]:
    """What a property says of its type: its `type`, or each `anyOf` member."""
    return list(schema["anyOf"]) if "anyOf" in schema else [schema.get("type")]


def _only_boolean(schema: Mapping[str, Any]) -> bool:
    """A property conformance treats as boolean: `boolean`, alone or with `null`."""
    kind = schema.get("type")
    if kind is None:
        return False
    return kind in ("boolean", ["boolean"]) or set(kind) == {"boolean", "null"}


def _object(schema: Mapping[str, Any]) -> bool:
    """A property conformance recurses into: its type (or an `anyOf` member) names `object`."""
    return any(
        kind is not None and ("object" in kind or kind == "object") for kind in _kinds(schema)
    )


def _array(schema: Mapping[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(isinstance(member, dict) and _array(member) for member in schema["anyOf"])
    if "allOf" in schema:
        return all(isinstance(member, dict) and _array(member) for member in schema["allOf"])
    kind = schema.get("type")
    return kind is not None and "array" in kind


def _uniform_list(schema: Mapping[str, Any]) -> bool:
    """An array property with one schema for every item (conformance looks at each item)."""
    return (
        _array(schema)
        and "items" in schema
        and "prefixItems" not in schema
        and isinstance(schema["items"], dict)
    )


class Conformance:
    """Whether the SDK's type conformance would leave a record exactly as it is.

    The SDK conforms every value to its schema before writing (dates to strings, non-finite
    numbers to null, 0/1 to booleans, fields outside the schema dropped with a warning). Records
    decoded from JSON are nearly always conformant already, and this check costs a fraction of
    the conformance. It says True only when the SDK would return an equal record and log
    nothing; anything it is not sure of (a list under an array schema, a date object, a field
    outside a closed schema) says False and goes through the SDK.
    """

    __slots__ = ("booleans", "known", "objects", "open", "uniform_lists")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        """Read once which properties conformance would touch."""
        properties: Mapping[str, Any] = schema.get("properties") or {}
        self.known = frozenset(properties)
        self.open = bool(schema.get("additionalProperties"))
        self.booleans = frozenset(name for name, spec in properties.items() if _only_boolean(spec))
        self.uniform_lists = frozenset(
            name for name, spec in properties.items() if _uniform_list(spec)
        )
        self.objects = {
            name: Conformance(spec)
            for name, spec in properties.items()
            if _object(spec) and "properties" in spec
        }

    def holds(self, record: Mapping[str, Any]) -> bool:
        """True when conforming `record` would change nothing (and warn about nothing)."""
        if not self.open and not self.known.issuperset(record):
            return False
        plain = _UNTOUCHED
        for name, value in record.items():
            if type(value) not in plain and not self._keeps(name, value):
                return False
        for name in self.booleans:  # "yes" or 1 would become true
            kind = type(record.get(name))
            if kind is str or kind is int:
                return False
        return True

    def _keeps(self, name: str, value: Any) -> bool:
        """Whether a value other than a string, an integer, a boolean or null stays as it is."""
        if name not in self.known:
            return True  # a member an open schema allows: conformance does not look at it
        kind = type(value)
        if kind is float:
            return math.isfinite(value)  # inf and nan become null
        if kind is dict:
            inner = self.objects.get(name)
            return inner.holds(value) if inner is not None else name not in self.booleans
        if kind is list:
            return name not in self.uniform_lists and name not in self.booleans
        return False  # dates, decimals, bytes...: the SDK knows what to do with them


class ViewingOutput:
    """SCHEMA, RECORD and STATE messages of one viewing stream, as its sync would write them."""

    __slots__ = (
        "_conformance_of",
        "_counted_before",
        "_counter",
        "_selection",
        "_stream",
        "_tap",
        "schema_written",
    )

    def __init__(self, stream: Stream, tap: Tap) -> None:
        """Write for `stream` through `tap`'s writer; nothing is written yet."""
        self._stream = stream
        self._tap = tap
        self.schema_written = False
        self._selection: bool | None = None
        self._conformance_of: tuple[dict, Conformance] | None = None
        self._counter: Counter | None = None
        self._counted_before = 0  # records written before the stream's own sync counts them

    def write_schema(self) -> None:
        """Announce the stream's schema (stream maps and flattening applied, as the SDK does)."""
        self._stream._write_schema_message()  # noqa: SLF001 - the SDK's own SCHEMA writer
        self.schema_written = True

    def write_record(self, record: dict[str, Any]) -> None:
        """Write one record (selection, conformance, stream maps and flattening apply)."""
        stream = self._stream
        if not (self._all_selected() and self._conformance.holds(record)):
            stream._write_record_message(record)  # noqa: SLF001 - the SDK's own pipeline
        else:
            extracted = dt.datetime.now(dt.UTC)
            version = stream._stream_version  # noqa: SLF001 - what the SDK's pipeline writes
            for stream_map in stream.stream_maps:
                mapped = stream_map.transform(record)
                if mapped is not None:
                    self._tap.write_message(
                        singerlib.RecordMessage(
                            stream=stream_map.stream_alias,
                            record=mapped,
                            version=version,
                            time_extracted=extracted,
                        )
                    )
        if self._counter is None:
            self._counted_before += 1
        else:
            self._counter.increment()

    def write_state(self) -> None:
        """Write one STATE message holding every stream's bookmark, as it stands."""
        self._tap.state_writer.write_state(self._stream.tap_state)

    def counting_on(self, counter: Counter) -> Counter:
        """Count records on `counter` from now on, with those written before it existed."""
        if self._counted_before:
            counter.increment(self._counted_before)
            self._counted_before = 0
        self._counter = counter
        return counter

    def _all_selected(self) -> bool:
        """Nothing of the schema is deselected: pruning would leave every record as it is."""
        if self._selection is None:
            self._selection = all(self._stream.mask.values())
        return self._selection

    @property
    def _conformance(self) -> Conformance:
        schema = self._stream.effective_schema
        if self._conformance_of is None or self._conformance_of[0] is not schema:
            self._conformance_of = (schema, Conformance(schema))
        return self._conformance_of[1]
