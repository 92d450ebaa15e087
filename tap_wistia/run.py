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

What Wistia leaves undocumented never decides what is read:

- the order: see `EventPager` (a day ends early only where its pages prove newest first);
- pages that move: a past day is read many pages at once, which assumes its pages stay put.
  An event met twice in one such day shows they moved (an event added or deleted meanwhile
  can then hide another at a page boundary), so the day is read again, one page at a time
  (`_read_again`); a deletion that shows nothing cannot be seen (see the README);
- whether `end_date` is inclusive: each day is asked for as `start_date = end_date = day`,
  which a server reading `end_date` as exclusive answers with nothing. Bookmarks do not move
  until some day has answered with events; a run that met none asks once for the whole period
  with `end_date` a day later, and if that lists events, reads every day as `[day, day + 1]`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_wistia.client import WistiaError
from tap_wistia.events import (
    NOT_AN_OBJECT,
    EventProblems,
    copy_key,
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
from tap_wistia.refresh import MediaChanges
from tap_wistia.seen import NEW, TAKEN, RepeatedPages, SeenKeys
from tap_wistia.sessions import ActivityBuilder, UnreadableStateError, WalkBrokenError
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
    units_moved: int = 0  # read again one page at a time after their pages moved
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
        # Some day's query answered with events: `end_date` is read as inclusive (see above).
        self._days_answer = False
        # What the statistics streams read after this run: the window and its medias with events.
        self._read_window: Window | None = None
        self._medias_seen: set[str] = set()

    def drive(self) -> None:
        """Run the import once; later calls (from the second stream) do nothing."""
        if self._started:
            return
        self._started = True
        try:
            window = plan_window(
                self._settings,
                now=self._now,
                events_state=self._events.stream_state,
                activity_state=self._activity.stream_state,
                events_selected=self._events.selected,
                activity_selected=self._activity.selected,
            )
        except UnreadableStateError as unreadable:
            raise WistiaError(str(unreadable)) from None
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
        self._read_window = window
        self._log_summary()

    def changes(self) -> MediaChanges | None:
        """The medias with events received in the period this run read (None: it read none).

        Known once `drive` has read the whole period; the statistics streams read after it, and
        read again only those medias between full reads (see `tap_wistia.refresh`).
        """
        window = self._read_window
        if window is None:
            return None
        return MediaChanges(window.fetch_from, window.until, frozenset(self._medias_seen))

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
        progress = Progress(self._events.logger, self._client, days_planned=len(days))
        self._read_days(window, builder, days, progress, exclusive_end=False)
        if not self._days_answer and self._period_lists_events(days):
            self._events.logger.warning(
                "Wistia answered no day from %s to %s with events, but lists events for the "
                "period asked with end_date a day later: it reads end_date as the first day "
                "not served. Reading each day again as [day, day + 1].",
                days[0].isoformat(),
                days[-1].isoformat(),
            )
            self._read_days(window, builder, days, progress, exclusive_end=True)
            if not self._days_answer:
                msg = (
                    f"Wistia lists events from {days[0].isoformat()} to {days[-1].isoformat()} "
                    "but none for any one of those days, however end_date is read. The run "
                    "stops before any bookmark passes them; report it to Wistia."
                )
                raise WistiaError(msg)
        self._settle(window, builder, window.until, final=True)
        self.report.pages_repeated = self._repeats.skipped

    def _read_days(
        self,
        window: Window,
        builder: ActivityBuilder | None,
        days: list[dt.date],
        progress: Progress,
        *,
        exclusive_end: bool,
    ) -> None:
        """Read the days' pages in order, settling after each day once days answer events."""
        units = [
            Unit(day, media_id, exclusive_end=exclusive_end)
            for day in days
            for media_id in (self._settings.media_ids or (None,))
        ]
        pager = self._pager(units, window)
        report = self.report
        seen = SeenKeys(whole_unit=True)
        unit: Unit | None = None
        live = True
        for item in pager.pages():
            if isinstance(item, DayDone):
                if self._days_answer:  # else `end_date` may be exclusive: see `_read`
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
            copy = self._take_page(window, item, seen, builder, self._repeats)
            if copy is not None and not live:
                seen = self._read_again(window, unit, builder, seen, moved=copy)
                pager.skip_rest(unit)
            progress.page(report.events_read, report.sessions_emitted)
            if builder is not None:
                held = builder.held_events  # the peak: a sweep frees what the page completed
                self.report.events_held_peak = max(self.report.events_held_peak, held)
                builder.sweep()
        self.report.wasted_requests += pager.stats.wasted

    def _period_lists_events(self, days: list[dt.date]) -> bool:
        """Whether the whole period, asked with `end_date` a day later, lists any event.

        Asked only when no day answered with events. Read inclusively, that day is after every
        account's today: nothing can be listed but an event that arrived meanwhile (then the
        days are read again, which loses nothing). Read exclusively, the period's events are.
        """
        for media_id in self._settings.media_ids or (None,):
            params = Unit(days[0], media_id).params(1)
            params["end_date"] = (days[-1] + dt.timedelta(days=1)).isoformat()
            params["per_page"] = 1
            if len(self._client.get_array(self._client.version.events_path, params)):
                return True
        return False

    def _pager(
        self, units: list[Unit], window: Window, *, serial_from: dt.date | None = None
    ) -> EventPager:
        """A pager of the run's units; `serial_from` reads those days one page at a time."""
        return EventPager(
            self._client,
            units,
            since=window.fetch_from,
            timestamp_of=_received_at,
            key_of=_event_key,
            max_parallel=self._settings.max_parallel_requests,
            max_held=HELD_PAGES_PER_REQUEST * self._settings.max_parallel_requests,
            live_from=serial_from or live_from(self._now),
            stopping=lambda: self._client.budget.stopped,
            path=self._client.version.events_path,
            max_pages=self._settings.max_pages_per_day,
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
        repeats: RepeatedPages,
    ) -> object | None:
        """Emit the page's events (first copies) and feed the builder (best copies).

        Returns the key of the first event already taken from an earlier page of the unit (a
        copy), if any. A page that repeats one read before is skipped whole; one whose every
        event was taken already counts as repeated after the fact. Too many in a row stop the
        run.
        """
        if page.events:
            self._days_answer = True
        where = _where(page.unit)
        if repeats.seen_before(page.events):
            self.report.events_read += len(page.events)
            self.report.duplicates += len(page.events)
            repeats.count(repeated=True, where=where)
            return None
        first_copy: object | None = None
        taken = 0
        for raw in page.events:
            key, copy = self._take_event(window, raw, seen, builder, page.unit)
            if copy != NEW and copy is not None and first_copy is None:
                first_copy = key
            taken += copy == TAKEN
        repeats.count(repeated=taken == len(page.events), where=where)  # every event taken
        return first_copy

    def _take_event(
        self,
        window: Window,
        raw: object,
        seen: SeenKeys,
        builder: ActivityBuilder | None,
        unit: Unit,
    ) -> tuple[object, int | None]:
        """Take one event of a page: its key and copy (`NEW`, `BETTER`, `TAKEN`; None if left out).

        An event whose key cannot tell it from another (missing, not a scalar) is always `NEW`:
        `wistia_events` emits every event in range whatever its key.
        """
        report = self.report
        report.events_read += 1
        if not isinstance(raw, dict):
            self.problems[NOT_AN_OBJECT] += 1
            return None, None
        record = normalize_event(raw, self.problems)
        if record is None:
            self._events.logger.warning(
                "Skipping event %s: its received_at %r is not a timestamp",
                raw.get("event_key"),
                raw.get("received_at"),
            )
            return None, None
        received = parse_timestamp(record["received_at"])
        if received is not None and (self._newest is None or received > self._newest):
            self._newest = received
        if received is None or not window.fetch_from <= received < window.until:
            report.out_of_range += 1
            return None, None
        media = record.get("media_id")
        if type(media) is str:
            self._medias_seen.add(media)
        key = copy_key(record.get("event_key"))
        percent = record.get("percent_viewed")
        copy = NEW if key is None else seen.take(key, percent if percent is not None else -1.0)
        if copy != NEW:
            report.duplicates += 1  # the events stream keeps its first copy
            if copy == TAKEN:
                return key, copy
        elif window.events_from is not None and received >= window.events_from:
            self._events.emit(record)
            report.events_emitted += 1
        if builder is not None:
            self._feed(window, unit, builder, record)
        return key, copy

    def _feed(
        self, window: Window, unit: Unit, builder: ActivityBuilder, record: dict[str, Any]
    ) -> None:
        """Add an event to the sessions; a walk it breaks is given up and the unit read again."""
        view = view_event(record, self.problems)
        if view is None:
            return
        try:
            builder.add(view)
        except WalkBrokenError as broken:
            self._reread_for_sessions(window, unit, builder, broken)
            builder.add(view)

    def _reread_for_sessions(
        self, window: Window, unit: Unit, builder: ActivityBuilder, broken: WalkBrokenError
    ) -> None:
        """Wistia broke its newest-first order near sessions the walk swept: read `unit` again.

        The swept sessions are forgotten (none was emitted) and the unit is read again whole
        into the builder only (the events stream has its events or still gets them from the
        pages to come). The rest of this run holds units whole.
        """
        self._events.logger.warning(
            "Wistia served the events of %s out of newest-first order (%s). Reading that day "
            "again to sessionize it whole; the rest of this run holds each day whole.",
            _where(unit),
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
                record = normalize_event(raw, problems) if isinstance(raw, dict) else None
                view = view_event(record, problems) if record is not None else None
                if view is not None and window.fetch_from <= view.received_at < window.until:
                    builder.add(view)
        self.report.units_reread += 1
        self.report.wasted_requests += pager.stats.wasted

    def _read_again(
        self,
        window: Window,
        unit: Unit,
        builder: ActivityBuilder | None,
        seen: SeenKeys,
        *,
        moved: object,
    ) -> SeenKeys:
        """The pages of a day past moved while read many at once: read it again, in order.

        Read one page at a time, a day whose pages move shows each move as an event met
        twice, never as a gap. Every event of the new read is taken again: emitted unless its
        copy was among those `seen` still holds (so some may be written twice, which their
        key makes harmless), and added to the builder after giving up the walk, whose swept
        events would otherwise count as copies. Returns the keys taken, for the unit's rest.
        """
        self._events.logger.warning(
            "The pages of %s moved while they were read (event %r was served twice): an event "
            "added or deleted meanwhile can hide another. Reading that day again, one page at "
            "a time.",
            _where(unit),
            moved,
        )
        if builder is not None:
            builder.abandon_walk()
        again = seen.whole()
        repeats = RepeatedPages()
        pager = self._pager([unit], window, serial_from=unit.day)
        for item in pager.pages():
            if isinstance(item, EventPage):
                self._take_page(window, item, again, builder, repeats)
        self.report.units_moved += 1
        self.report.wasted_requests += pager.stats.wasted
        return again

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
        if report.units_moved:
            logger.warning(
                "%s read again one page at a time after their pages moved while read.",
                f"{report.units_moved:,} day(s)",
            )
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


def _received_at(event: object) -> dt.datetime | None:
    """An event's time as the pager orders pages by; None when it has none readable."""
    return parse_timestamp(event.get("received_at")) if isinstance(event, dict) else None


def _event_key(event: object) -> str | None:
    """An event's key as the pager tells a repeat by; None when it has no string key."""
    key = event.get("event_key") if isinstance(event, dict) else None
    return key if type(key) is str else None


def _where(unit: Unit) -> str:
    """A unit as the log names it: its day, and its media when the run filters by media."""
    return unit.day.isoformat() + (f" (media {unit.media_id})" if unit.media_id else "")
