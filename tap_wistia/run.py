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
from tap_wistia.sessions import ActivityBuilder, Carry, WalkBrokenError, fetch_start

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_wistia.client import WistiaClient
    from tap_wistia.sessions import Sessions
    from tap_wistia.settings import TapSettings
    from tap_wistia.streams import ActivityStream, EventsStream

FIRST_RUN_SPAN = dt.timedelta(hours=1)
HELD_PAGES_PER_REQUEST = 16
"""Pages read ahead of their turn, per parallel request. A day's last pages are read one at a
time (only a short page tells where a day ends); meanwhile the following days are read ahead.
With 8 per request, a 300 ms API kept the pager at a single request in flight for a third of a
backfill (540 requests/min); with 16 it stays ahead of Wistia's 600/min. Memory: about 100 KB
per held page of 100 events (held encoded), bounded whatever the size of the backfill."""
_TICK = dt.timedelta(microseconds=1)  # timestamps are microsecond-precise


@dataclass(frozen=True)
class Window:
    """What a run reads: events received in [fetch_from, until)."""

    fetch_from: dt.datetime
    until: dt.datetime
    events_from: dt.datetime | None  # None: the events stream is not selected or is done
    carry: Carry | None
    activity: bool  # the activity stream is selected and not done


def plan_window(  # noqa: PLR0913
    settings: TapSettings,
    *,
    now: dt.datetime,
    events_state: Mapping[str, Any],
    activity_state: Mapping[str, Any],
    events_selected: bool,
    activity_selected: bool,
) -> Window | None:
    """Decide, from the settings and both streams' state, which events this run reads.

    Returns None when there is nothing to read (no stream selected, or a finished import with
    `keep_updated` off).
    """
    default_start = (
        dt.datetime.combine(settings.start_date, dt.time(), dt.UTC)
        if settings.start_date
        else now - FIRST_RUN_SPAN
    )
    until = now
    if not settings.keep_updated:
        if settings.end_date:
            until = min(
                now,
                dt.datetime.combine(settings.end_date, dt.time(), dt.UTC) + dt.timedelta(days=1),
            )
        else:
            frozen = parse_timestamp(
                events_state.get("import_until") or activity_state.get("import_until")
            )
            until = min(now, frozen) if frozen else now

    events_from = None
    if events_selected:
        bookmark = parse_timestamp(events_state.get("replication_key_value"))
        if bookmark is None:
            events_from = default_start
        elif bookmark < until or settings.keep_updated:
            events_from = max(bookmark - settings.lookback, default_start)
    carry = Carry.from_state(activity_state.get("carry")) if activity_selected else None
    activity = activity_selected and (
        carry is None or settings.keep_updated or carry.watermark < until
    )
    starts = [s for s in (events_from,) if s is not None]
    if activity:
        starts.append(fetch_start(carry, lookback=settings.lookback, default=default_start))
    if not starts:
        return None
    fetch_from = min(starts)
    if fetch_from >= until:
        return None
    return Window(fetch_from, until, events_from, carry if activity else None, activity)


class SeenKeys:
    """The event keys of a unit already taken, each with the rank of the copy taken.

    Copies come from page drift: while a day still receives events, new ones push the others
    down the pages, so a copy can come any number of pages later and every key of the unit is
    kept (`whole_unit`). Pages of a day past do not move: only the keys of the current page and
    the one before it are kept, a guard that costs a page's worth of memory instead of the
    day's (a day of 35,000 events would keep about 4 MB of keys to the end of the day).
    """

    __slots__ = ("_before", "_page", "_whole_unit")

    def __init__(self, *, whole_unit: bool) -> None:
        """Keep every key of the unit, or only those of the last two pages."""
        self._whole_unit = whole_unit
        self._page: dict[str, float] = {}
        self._before: dict[str, float] = {}

    def take(self, key: str, rank: float) -> bool:
        """Whether this copy is new or better than the one taken (a higher percent_viewed)."""
        taken = self._page.get(key)
        if taken is None:
            taken = self._before.get(key)
        if taken is not None and rank <= taken:
            return False
        self._page[key] = rank
        return True

    def next_page(self) -> None:
        """The next page of the same unit begins."""
        if not self._whole_unit:
            self._before, self._page = self._page, {}


@dataclass
class RunReport:
    """What the run did, for the closing log line."""

    events_read: int = 0
    events_emitted: int = 0
    duplicates: int = 0
    out_of_range: int = 0
    sessions_emitted: int = 0
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
        logger.info(
            "Reading Wistia events received from %s to %s",
            format_timestamp(window.fetch_from),
            format_timestamp(window.until),
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
        units = [
            Unit(day, media_id)
            for day in api_days(window.fetch_from, window.until)
            for media_id in (self._settings.media_ids or (None,))
        ]
        pager = self._pager(units, window)
        seen = SeenKeys(whole_unit=True)
        unit: Unit | None = None
        for item in pager.pages():
            if isinstance(item, DayDone):
                self._settle(window, builder, self._watermark_after(item.day, window))
                continue
            if item.unit != unit:
                unit = item.unit
                still = not pager.may_move(unit)  # a day past: its pages do not move
                seen = SeenKeys(whole_unit=not still)
                if builder is not None and self._walking:
                    builder.start_walk(still=still)
            else:
                seen.next_page()
            self._take_page(window, item, seen, builder)
            if builder is not None:
                held = builder.held_events  # the peak: a sweep frees what the page completed
                self.report.events_held_peak = max(self.report.events_held_peak, held)
                builder.sweep()
        self._settle(window, builder, window.until, final=True)
        self.report.wasted_requests += pager.stats.wasted

    def _pager(self, units: list[Unit], window: Window) -> EventPager:
        return EventPager(
            self._client,
            units,
            since=window.fetch_from,
            timestamp_of=lambda event: parse_timestamp(event.get("received_at")),
            max_parallel=self._settings.max_parallel_requests,
            max_held=HELD_PAGES_PER_REQUEST * self._settings.max_parallel_requests,
            live_from=live_from(self._now),
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
        for raw in page.events:
            self.report.events_read += 1
            record = normalize_event(raw, self.problems)
            if record is None:
                self._events.logger.warning(
                    "Skipping event %s: its received_at %r is not a timestamp",
                    raw.get("event_key"),
                    raw.get("received_at"),
                )
                continue
            received = parse_timestamp(record["received_at"])
            if received is not None and (self._newest is None or received > self._newest):
                self._newest = received
            if received is None or not window.fetch_from <= received < window.until:
                self.report.out_of_range += 1
                continue
            key = str(record.get("event_key"))
            percent = record.get("percent_viewed")
            rank = percent if isinstance(percent, float) else -1.0
            if not seen.take(key, rank):
                self.report.duplicates += 1
                continue
            if window.events_from is not None and received >= window.events_from:
                self._events.emit(record)
                self.report.events_emitted += 1
            if builder is not None:
                view = view_event(record, self.problems)
                if view is not None:
                    try:
                        builder.add(view)
                    except WalkBrokenError as broken:
                        self._reread(window, page.unit, builder, broken)
                        builder.add(view)

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
        logger = self._events.logger
        report = self.report
        stats = self._client.stats
        logger.info(
            "Read %d events (%d emitted, %d duplicates dropped, %d outside the period), "
            "emitted %d viewing sessions, in %d requests (%d retries, %d rate-limited)",
            report.events_read,
            report.events_emitted,
            report.duplicates,
            report.out_of_range,
            report.sessions_emitted,
            stats.requests,
            stats.retries,
            stats.rate_limited,
        )
        if self.problems.total():
            logger.warning("Odd events (kept where possible): %s", self.problems.summary())
