"""One import run: read the events once, emit them, and build viewing sessions from them.

`wistia_events` and `wistia_activity` come from the same API reads. Whichever of the two streams
the SDK syncs first drives the whole run through `ViewingRun.drive`; the other finds the work
done. Records of both streams are written as their pages arrive, so memory never holds the
backfill. Each day is walked in the order Wistia serves it, newest first, and swept after every
page (`ActivityBuilder.start_walk`): memory holds the events of the sessions around the page
being read and the day's complete sessions, not the day's events. That order is observed, not
documented, so it is checked; a day served otherwise is read again and held whole.

Bookmarks move only at *watermarks*: after every page of a day has been written, everything
received up to the newest event of that day is known to be written (whatever the account's time
zone, its next day's events are all newer), and at least everything before
`complete_before(day)`; both streams' state says so in one STATE message. An interrupted
backfill therefore resumes from its last finished day, and a day's events are sessionized and
freed as soon as the day is read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_wistia.events import (
    EventProblems,
    format_timestamp,
    normalize_event,
    parse_timestamp,
    view_event,
)
from tap_wistia.pager import (
    DayDone,
    EventPage,
    EventPager,
    Unit,
    api_days,
    complete_before,
    live_from,
)
from tap_wistia.progress import Progress
from tap_wistia.seen import NEW, TAKEN, RepeatedPages, SeenKeys
from tap_wistia.sessions import ActivityBuilder, WalkBrokenError
from tap_wistia.window import plan_window

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_wistia.client import WistiaClient
    from tap_wistia.sessions import Sessions
    from tap_wistia.settings import TapSettings
    from tap_wistia.streams import ActivityStream, EventsStream
    from tap_wistia.window import Window

HELD_PAGES_PER_REQUEST = 16
"""Pages read ahead of their turn, per parallel request. A day's last pages are read one at a
time (only a short page tells where a day ends); meanwhile the following days are read ahead.
With 8 per request, a 300 ms API kept the pager at a single request in flight for a third of a
backfill (540 requests/min); with 16 it stays ahead of Wistia's 600/min. Memory: about 100 KB
per held page of 100 events (held encoded), bounded whatever the size of the backfill."""
_TICK = dt.timedelta(microseconds=1)  # timestamps are microsecond-precise


@dataclass
class RunReport:
    """What the run did, for the closing log line."""

    events_read: int = 0
    events_emitted: int = 0
    duplicates: int = 0
    out_of_range: int = 0
    sessions_emitted: int = 0
    pages_repeated: int = 0  # pages Wistia served again, skipped
    wasted_requests: int = 0
    units_reread: int = 0  # read again whole after Wistia broke its newest-first order
    events_held_peak: int = 0  # the most events held for sessionizing at once


class ViewingRun:
    """Reads the window's events once and feeds both streams."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        client: WistiaClient,
        settings: TapSettings,
        durations: Mapping[str, float | None],
        events_stream: EventsStream,
        activity_stream: ActivityStream,
        now: dt.datetime,
    ) -> None:
        """Prepare the run; nothing is read before `drive`."""
        self._client = client
        self._settings = settings
        self._durations = durations
        self._events = events_stream
        self._activity = activity_stream
        self._now = now
        self._started = False
        self.problems = EventProblems()
        self.report = RunReport()
        self._repeats = RepeatedPages()
        self._newest: dt.datetime | None = None  # the newest event read so far
        # Sessionize walking each unit newest first, until Wistia breaks that order once.
        self._walking = True

    def drive(self) -> None:
        """Run the import once; later calls (from the second stream) do nothing."""
        if self._started:
            return
        self._started = True
        window = plan_window(
            self._settings,
            now=self._now,
            events_state=self._events.stream_state,
            activity_state=self._activity.stream_state,
            events_selected=self._events.selected,
            activity_selected=self._activity.selected,
        )
        logger = self._events.logger
        if window is None:
            logger.info("Nothing to import: the configured period has been imported.")
            return
        for note in window.notes:
            logger.warning("State refused: %s.", note)
        logger.info(
            "Reading Wistia events received from %s to %s: %s",
            format_timestamp(window.fetch_from),
            format_timestamp(window.until),
            window.reason,
        )
        if window.events_from is not None and not self._events.schema_written:
            self._events.write_schema()
        if window.activity and not self._activity.schema_written:
            self._activity.write_schema()
        self._read(window)
        self._log_summary()

    def _read(self, window: Window) -> None:
        builder = (
            ActivityBuilder(
                self._durations,
                gap=self._settings.session_gap,
                lookback=self._settings.lookback,
                carry=window.carry,
            )
            if window.activity
            else None
        )
        days = api_days(window.fetch_from, window.until)
        units = [
            Unit(day, media_id)
            for day in days
            for media_id in (self._settings.media_ids or (None,))
        ]
        pager = self._pager(units, window)
        progress = Progress(self._events.logger, self._client, days_planned=len(days))
        report = self.report
        seen = SeenKeys(whole_unit=True)
        unit: Unit | None = None
        for item in pager.pages():
            if isinstance(item, DayDone):
                self._settle(window, builder, self._watermark_after(item.day, window))
                progress.day_done(item.day, report.events_read, report.sessions_emitted)
                continue
            if item.unit != unit:
                unit = item.unit
                live = pager.is_live(unit)  # else a day past: its pages do not move
                seen = SeenKeys(whole_unit=live)
                self._repeats.new_unit()
                if builder is not None and self._walking:
                    builder.start_walk(live=live)
            else:
                seen.next_page()
            self._take_page(window, item, seen, builder)
            progress.page(report.events_read, report.sessions_emitted)
            if builder is not None:
                held = builder.held_events  # the peak: a sweep frees what the page completed
                self.report.events_held_peak = max(self.report.events_held_peak, held)
                builder.sweep()
        self._settle(window, builder, window.until, final=True)
        self.report.wasted_requests += pager.stats.wasted
        self.report.pages_repeated = self._repeats.skipped

    def _pager(self, units: list[Unit], window: Window) -> EventPager:
        return EventPager(
            self._client,
            units,
            since=window.fetch_from,
            timestamp_of=lambda event: parse_timestamp(event.get("received_at")),
            max_parallel=self._settings.max_parallel_requests,
            max_held=HELD_PAGES_PER_REQUEST * self._settings.max_parallel_requests,
            live_from=live_from(self._now),
            stopping=lambda: self._client.budget.stopped,
            path=self._client.version.events_path,
        )

    def _watermark_after(self, day: dt.date, window: Window) -> dt.datetime:
        """Everything received before this is read once every page up to `day` is.

        Account days are contiguous: every event of a later day is newer than the newest event
        of this one, so that event bounds what is complete more tightly than the time zone
        arithmetic of `complete_before` (which assumes the worst offset, +14 h).
        """
        watermark = complete_before(day, window.fetch_from, window.until)
        if self._newest is not None:
            watermark = max(watermark, min(window.until, self._newest + _TICK))
        return watermark

    def _take_page(
        self,
        window: Window,
        page: EventPage,
        seen: SeenKeys,
        builder: ActivityBuilder | None,
    ) -> None:
        """Emit the page's events (first copies) and feed the builder (best copies).

        A page that repeats one read before is skipped whole; one whose every event was taken
        already counts as repeated after the fact. Too many in a row stop the run.
        """
        where = page.unit.day.isoformat() + (
            f" (media {page.unit.media_id})" if page.unit.media_id else ""
        )
        if self._repeats.seen_before(page.events):
            self.report.events_read += len(page.events)
            self.report.duplicates += len(page.events)
            self._repeats.count(repeated=True, where=where)
            return
        copies = [self._take_event(window, raw, seen, builder, page.unit) for raw in page.events]
        repeated = all(copy == TAKEN for copy in copies)  # every event was checked and taken
        self._repeats.count(repeated=repeated, where=where)

    def _take_event(
        self,
        window: Window,
        raw: dict[str, Any],
        seen: SeenKeys,
        builder: ActivityBuilder | None,
        unit: Unit,
    ) -> int | None:
        """Take one event of a page; its copy (`NEW`, `BETTER`, `TAKEN`), None if left out."""
        report = self.report
        report.events_read += 1
        record = normalize_event(raw, self.problems)
        if record is None:
            self._events.logger.warning(
                "Skipping event %s: its received_at %r is not a timestamp",
                raw.get("event_key"),
                raw.get("received_at"),
            )
            return None
        received = parse_timestamp(record["received_at"])
        if received is not None and (self._newest is None or received > self._newest):
            self._newest = received
        if received is None or not window.fetch_from <= received < window.until:
            report.out_of_range += 1
            return None
        percent = record.get("percent_viewed")
        copy = seen.take(
            str(record.get("event_key")), percent if isinstance(percent, float) else -1.0
        )
        if copy != NEW:
            report.duplicates += 1  # the events stream keeps its first copy
            if copy == TAKEN:
                return copy
        elif window.events_from is not None and received >= window.events_from:
            self._events.emit(record)
            report.events_emitted += 1
        if builder is not None:
            view = view_event(record, self.problems)
            if view is not None:
                try:
                    builder.add(view)
                except WalkBrokenError as broken:
                    self._reread(window, unit, builder, broken)
                    builder.add(view)
        return copy

    def _reread(
        self, window: Window, unit: Unit, builder: ActivityBuilder, broken: WalkBrokenError
    ) -> None:
        """Wistia broke its newest-first order near sessions the walk swept: read `unit` again.

        The swept sessions are forgotten (none was emitted) and the unit is read again whole
        into the builder only (the events stream has its events or still gets them from the
        pages to come). The rest of this run holds units whole.
        """
        where = unit.day.isoformat() + (f" (media {unit.media_id})" if unit.media_id else "")
        self._events.logger.warning(
            "Wistia served the events of %s out of newest-first order (%s). Reading that day "
            "again to sessionize it whole; the rest of this run holds each day whole.",
            where,
            broken,
        )
        builder.abandon_walk()
        self._walking = False
        problems = EventProblems()  # counted on the first read
        pager = self._pager([unit], window)
        for item in pager.pages():
            if not isinstance(item, EventPage):
                continue
            for raw in item.events:
                record = normalize_event(raw, problems)
                view = view_event(record, problems) if record is not None else None
                if view is not None and window.fetch_from <= view.received_at < window.until:
                    builder.add(view)
        self.report.units_reread += 1
        self.report.wasted_requests += pager.stats.wasted

    def _settle(
        self,
        window: Window,
        builder: ActivityBuilder | None,
        watermark: dt.datetime,
        *,
        final: bool = False,
    ) -> None:
        if builder is not None:
            sessions = builder.finish(watermark) if final else builder.settle(watermark)
            self._emit_sessions(sessions)
            self._activity.save_carry(builder.carry, self._import_until(window))
        if window.events_from is not None:
            self._events.save_watermark(watermark, self._import_until(window))
        self._events.flush_state()

    def _emit_sessions(self, sessions: Sessions) -> None:
        for session in sessions:
            self._activity.emit(session.to_record())
        self.report.sessions_emitted += len(sessions)

    def _import_until(self, window: Window) -> dt.datetime | None:
        """With `keep_updated` off and no end date, the first run's end is the import's end."""
        settings = self._settings
        return window.until if not settings.keep_updated and not settings.end_date else None

    def _log_summary(self) -> None:
        """Say what was written to which stream, then what reading it cost."""
        logger = self._events.logger
        report = self.report
        stats = self._client.stats
        written = []
        if self._events.selected:
            written.append(f"{report.events_emitted:,} events to wistia_events")
        if self._activity.selected:
            written.append(f"{report.sessions_emitted:,} viewing sessions to wistia_activity")
        logger.info(
            "Wrote %s. Read %s events from Wistia (%s repeated copies dropped, %s outside the "
            "period, %s pages served twice skipped) in %s requests (%s retries, %s rate-limited).",
            " and ".join(written) or "nothing",
            f"{report.events_read:,}",
            f"{report.duplicates:,}",
            f"{report.out_of_range:,}",
            f"{report.pages_repeated:,}",
            f"{stats.requests:,}",
            f"{stats.retries:,}",
            f"{stats.rate_limited:,}",
        )
        if self.problems.total():
            logger.warning("Odd events (kept where possible): %s", self.problems.summary())
