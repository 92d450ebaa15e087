"""The four streams: thin adapters between Singer and the import run.

`wistia_events` and `wistia_activity` do not page on their own: both are fed by one
`ViewingRun` (see `tap_wistia.run`), which moves their bookmarks only at safe watermarks. The
SDK's per-record bookmark increments are turned off for them for that reason.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.helpers._typing import (
    _is_exclusive_boolean_type,
    is_object_type,
    is_uniform_list,
)
from singer_sdk.helpers._util import utc_now

from tap_wistia import schemas
from tap_wistia.events import format_timestamp
from tap_wistia.visitors import READ_MARK, mark_read, read_due, read_visitors, visitor_record

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping

    from singer_sdk.helpers.types import Context, Record

    from tap_wistia.sessions import Carry
    from tap_wistia.tap import TapWistia


#: Values conformance never changes, except under a boolean-only schema (checked apart).
_UNTOUCHED = frozenset({str, int, bool, type(None)})


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
        self.booleans = frozenset(
            name for name, spec in properties.items() if _is_exclusive_boolean_type(spec)
        )
        self.uniform_lists = frozenset(
            name for name, spec in properties.items() if is_uniform_list(spec)
        )
        self.objects = {
            name: Conformance(spec)
            for name, spec in properties.items()
            if is_object_type(spec) and "properties" in spec
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


class _ViewingStream(Stream):
    """A stream fed by the run: records are written as the run produces them."""

    replication_method = "INCREMENTAL"
    is_sorted = False

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which owns the shared run."""
        super().__init__(tap)
        self._wistia_tap = tap
        self.schema_written = False
        self._selection: bool | None = None
        self._conformance_of: tuple[dict, Conformance] | None = None

    def get_records(self, context: Context | None) -> Iterable[Record]:  # noqa: ARG002
        """Run the import once for both streams; records are written by `emit`."""
        self._wistia_tap.viewing_run().drive()
        return ()

    def write_schema(self) -> None:
        """Announce the schema before the first record (the other stream may drive)."""
        self._write_schema_message()
        self.schema_written = True

    def _write_schema_message(self) -> None:
        super()._write_schema_message()
        self.schema_written = True

    def emit(self, record: dict[str, Any]) -> None:
        """Write one record (selection mask, conformance and stream maps apply).

        The SDK's generic path (prune deselected fields, conform every value) costs more than
        everything else the tap does per record. Records that it would leave unchanged, which
        is every record of a run with the whole schema selected, skip straight to the stream
        maps and out; any other record takes the SDK's path, so the output is the same.
        """
        if not (self._all_selected() and self._conformance.holds(record)):
            self._write_record_message(record)
            return
        extracted, version = utc_now(), self._stream_version
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                self._wistia_tap.write_record(stream_map.stream_alias, mapped, version, extracted)
        self.state_manager.is_flushed = False

    def _all_selected(self) -> bool:
        """Nothing of the schema is deselected: pruning would leave every record as it is."""
        if self._selection is None:
            self._selection = all(self.mask.values())
        return self._selection

    @property
    def _conformance(self) -> Conformance:
        if self._conformance_of is None or self._conformance_of[0] is not self.effective_schema:
            schema = self.effective_schema
            self._conformance_of = (schema, Conformance(schema))
        return self._conformance_of[1]

    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Bookmarks move at watermarks only (`ViewingRun`), never per record."""

    def flush_state(self) -> None:
        """Write one STATE message holding every stream's bookmark."""
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _save(self, value: dt.datetime, import_until: dt.datetime | None) -> dict[str, Any]:
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = format_timestamp(value)
        if import_until is not None:
            state["import_until"] = format_timestamp(import_until)
        return state


class EventsStream(_ViewingStream):
    """Every viewing-session event Wistia reports (`GET /stats/events.json`)."""

    name = "wistia_events"
    primary_keys = ("event_key",)
    replication_key = "received_at"
    schema = schemas.EVENTS

    def save_watermark(self, watermark: dt.datetime, import_until: dt.datetime | None) -> None:
        """Every event received before `watermark` has been written."""
        self._save(watermark, import_until)


class ActivityStream(_ViewingStream):
    """Viewing sessions with their time viewed, built from the events."""

    name = "wistia_activity"
    primary_keys = ("session_id",)
    replication_key = "ended_at"
    schema = schemas.ACTIVITY

    def save_carry(self, carry: Carry, import_until: dt.datetime | None) -> None:
        """Keep what the next run needs to continue the open sessions."""
        state = self._save(carry.watermark, import_until)
        state["carry"] = carry.to_state()


class MediasStream(Stream):
    """Every media of the account (`GET /medias.json`), read once per run."""

    name = "wistia_medias"
    primary_keys = ("hashed_id",)
    replication_key = None
    schema = schemas.MEDIAS

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which caches the media list for the run."""
        super().__init__(tap)
        self._wistia_tap = tap

    def get_records(self, context: Context | None) -> Iterable[Record]:  # noqa: ARG002
        """The run's media list (the same one that gave the sessions their durations)."""
        return iter(self._wistia_tap.medias())


class VisitorsStream(Stream):
    """Every visitor of the account (`GET /stats/visitors`), read whole when due.

    Not selected by default: a read costs one request per 100 visitors. It is due when the
    last complete read is `visitors_refresh_hours` old; the state's mark moves only after the
    last page was written (see `tap_wistia.visitors`).
    """

    name = "wistia_visitors"
    primary_keys = ("visitor_key",)
    replication_key = None
    schema = schemas.VISITORS
    selected_by_default = False

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which owns the client and the run's clock."""
        super().__init__(tap)
        self._wistia_tap = tap

    def get_records(self, context: Context | None) -> Iterable[Record]:  # noqa: ARG002
        """The whole visitor list when a read is due, else nothing."""
        tap = self._wistia_tap
        started, refresh = tap.started_at, tap.settings.visitors_refresh
        state = self.stream_state
        if not read_due(state, started, refresh):
            self.logger.info(
                "Visitors were read whole at %s, less than %s ago: not read this run "
                "(visitors_refresh_hours).",
                state.get(READ_MARK),
                refresh,
            )
            return
        client = tap.client
        skipped = 0
        for page in read_visitors(client.get, client.version):
            for raw in page:
                record = visitor_record(raw) if isinstance(raw, dict) else None
                if record is None:
                    skipped += 1
                    continue
                yield record
        if skipped:
            self.logger.warning("Skipped %d visitors without a visitor_key", skipped)
        mark_read(state, started)
