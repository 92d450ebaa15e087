"""The three streams: thin adapters between Singer and the import run.

`wistia_events` and `wistia_activity` do not page on their own: both are fed by one
`ViewingRun` (see `tap_wistia.run`), which moves their bookmarks only at safe watermarks. The
SDK's per-record bookmark increments are turned off for them for that reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk import Stream

from tap_wistia import schemas
from tap_wistia.events import format_timestamp

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context, Record

    from tap_wistia.sessions import Carry
    from tap_wistia.tap import TapWistia


class _ViewingStream(Stream):
    """A stream fed by the run: records are written as the run produces them."""

    replication_method = "INCREMENTAL"
    is_sorted = False

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which owns the shared run."""
        super().__init__(tap)
        self._wistia_tap = tap
        self.schema_written = False

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
        """Write one record (selection mask, conformance and stream maps apply)."""
        self._write_record_message(record)

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
