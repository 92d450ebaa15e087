"""The four streams: thin adapters between Singer and the import run.

`wistia_events` and `wistia_activity` do not page on their own: both are fed by one
`ViewingRun` (see `tap_wistia.run`), which moves their bookmarks only at safe watermarks and
writes their messages through `tap_wistia.output`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.metrics import DEFAULT_LOG_INTERVAL

from tap_wistia import schemas
from tap_wistia.events import format_timestamp
from tap_wistia.output import ViewingOutput
from tap_wistia.refresh import READ_MARK, mark_read, read_due
from tap_wistia.visitors import read_visitors, visitor_record

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.metrics import Counter

    from tap_wistia.sessions import Carry
    from tap_wistia.tap import TapWistia


class ViewingStream(Stream):
    """A stream fed by the run: its messages are written as the run produces records."""

    replication_method = "INCREMENTAL"
    is_sorted = False

    def __init__(self, tap: TapWistia) -> None:
        """Keep a typed handle on the tap, which owns the shared run."""
        super().__init__(tap)
        self._wistia_tap = tap
        self.output = ViewingOutput(self, tap)

    def get_records(self, context: Context | None) -> Iterable[Record]:  # noqa: ARG002
        """Run the import once for both streams; records are written by `emit`."""
        self._wistia_tap.viewing_run().drive()
        return ()

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = DEFAULT_LOG_INTERVAL
    ) -> Counter:
        """The SDK's record counter, on which the records the run writes are counted."""
        counter = super().get_record_counter(endpoint=endpoint, log_interval=log_interval)
        return self.output.counting_on(counter)

    @property
    def schema_written(self) -> bool:
        """Whether this stream's SCHEMA has been written by the run."""
        return self.output.schema_written

    def write_schema(self) -> None:
        """Announce the schema before the first record (the other stream may drive)."""
        self.output.write_schema()

    def emit(self, record: dict[str, Any]) -> None:
        """Write one record, as the SDK's sync would (see `tap_wistia.output`)."""
        self.output.write_record(record)

    def flush_state(self) -> None:
        """Write one STATE message holding every stream's bookmark."""
        self.output.write_state()

    def _save(self, value: dt.datetime, import_until: dt.datetime | None) -> dict[str, Any]:
        state = self.stream_state
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = format_timestamp(value)
        if import_until is not None:
            state["import_until"] = format_timestamp(import_until)
        return state


class EventsStream(ViewingStream):
    """Every viewing-session event Wistia reports (`GET /stats/events.json`)."""

    name = "wistia_events"
    primary_keys = ("event_key",)
    replication_key = "received_at"
    schema = schemas.EVENTS

    def save_watermark(self, watermark: dt.datetime, import_until: dt.datetime | None) -> None:
        """Every event received before `watermark` has been written."""
        self._save(watermark, import_until)


class ActivityStream(ViewingStream):
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
