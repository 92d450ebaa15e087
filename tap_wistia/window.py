"""What one run reads: the period of events, why it starts where it does, and state it refuses.

`plan_window` is pure: from the settings, both streams' state and the run's "now" it decides
the period of events to read, says in words where that period comes from (the first line of a
run's log), and clamps what no run could have written: a bookmark or a watermark after now
(state edited, or written by a machine whose clock was ahead), a bookmark that is no
timestamp, and a start before what Wistia still serves (two years), each with a note naming
the value.

The bookmark is the start: a run with a `wistia_events` bookmark reads from it minus the
lookback however long ago the last run was (an outage of two days reads its two days).
`start_date` moves only a first run, or a bookmark older than itself; "the last hour" is only
what a first run without `start_date` reads.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_wistia.events import format_timestamp, parse_timestamp
from tap_wistia.sessions import Carry, UnreadableStateError, fetch_start

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_wistia.settings import TapSettings

FIRST_RUN_SPAN = dt.timedelta(hours=1)
RETENTION = dt.timedelta(days=731)
"""Wistia serves the last two years of events; reading further back only costs requests."""


@dataclass(frozen=True)
class Window:
    """What a run reads: events received in [fetch_from, until)."""

    fetch_from: dt.datetime
    until: dt.datetime
    events_from: dt.datetime | None  # None: the events stream is not selected or is done
    carry: Carry | None
    activity: bool  # the activity stream is selected and not done
    reason: str = ""  # where fetch_from and until come from, in words
    notes: tuple[str, ...] = ()  # state values refused or clamped, each naming the value


@dataclass(frozen=True)
class _Start:
    at: dt.datetime
    why: str


def _minutes(span: dt.timedelta) -> str:
    return f"{int(span.total_seconds() // 60)}-minute lookback"


class _Planner:
    """One call of `plan_window`: the notes it makes on the way."""

    def __init__(self, settings: TapSettings, now: dt.datetime) -> None:
        self.settings = settings
        self.now = now
        self.notes: list[str] = []

    def start_date(self) -> _Start | None:
        """Midnight UTC of `start_date`, when it is set."""
        if not self.settings.start_date:
            return None
        at = dt.datetime.combine(self.settings.start_date, dt.time(), dt.UTC)
        return _Start(at, f"start_date {self.settings.start_date.isoformat()}")

    def default_start(self) -> _Start:
        """Where a first run starts: `start_date`, else the last hour."""
        return self.start_date() or _Start(
            self.now - FIRST_RUN_SPAN, "a first run without start_date: the last hour"
        )

    def events_start(self, bookmark: dt.datetime) -> _Start:
        """Where a run with a `wistia_events` bookmark starts: the bookmark minus the lookback.

        However long ago the bookmark was written: an outage reads its whole gap. Only a
        `start_date` after that moves it (the import was asked to begin later).
        """
        lookback = self.settings.lookback
        start = _Start(
            bookmark - lookback,
            f"the wistia_events bookmark {format_timestamp(bookmark)} minus the "
            f"{_minutes(lookback)}",
        )
        floor = self.start_date()
        if floor is not None and floor.at > start.at:
            return _Start(floor.at, f"{floor.why}, later than {start.why}")
        return start

    def until(self, events_state: Mapping[str, Any], activity_state: Mapping[str, Any]) -> _Start:
        settings, now = self.settings, self.now
        if settings.keep_updated:
            return _Start(now, "now (keep_updated)")
        if settings.end_date:
            end = dt.datetime.combine(settings.end_date, dt.time(), dt.UTC) + dt.timedelta(days=1)
            if end < now:
                return _Start(end, f"the end of end_date {settings.end_date.isoformat()}")
            return _Start(now, "now (end_date is not over yet)")
        frozen = parse_timestamp(
            events_state.get("import_until") or activity_state.get("import_until")
        )
        if frozen is not None and frozen < now:
            return _Start(frozen, "the end of the first run (keep_updated is off)")
        return _Start(now, "now")

    def bookmark(self, events_state: Mapping[str, Any]) -> dt.datetime | None:
        """The `wistia_events` bookmark; one that is no timestamp is refused with a note."""
        stored = events_state.get("replication_key_value")
        bookmark = parse_timestamp(stored) if isinstance(stored, str) else None
        if stored is not None and bookmark is None:
            first = self.default_start()
            self.notes.append(
                f"the wistia_events bookmark {stored!r} is not a timestamp: reading as a first "
                f"run would, from {first.why}; to read the events since the last run instead, "
                "set start_date to its day (or earlier) for one run"
            )
            return None
        if bookmark is not None and bookmark > self.now:
            self.notes.append(
                f"the wistia_events bookmark {stored!r} is after this run's start "
                f"({format_timestamp(self.now)}): its state was edited or written by a clock "
                "ahead of this one; reading from now instead"
            )
            return self.now
        return bookmark

    def carry(self, activity_state: Mapping[str, Any]) -> Carry | None:
        """The wistia_activity carry; a malformed one stops the run with advice naming a day."""
        try:
            carry = Carry.from_state(activity_state.get("carry"))
        except UnreadableStateError as unreadable:
            bookmark = parse_timestamp(activity_state.get("replication_key_value"))
            back = self.settings.lookback + self.settings.session_gap + dt.timedelta(days=1)
            resume = min(bookmark, self.now) - back if bookmark is not None else None
            raise UnreadableStateError(
                unreadable.problem, resume.date() if resume is not None else None
            ) from None
        if carry is None or carry.watermark <= self.now:
            return carry
        self.notes.append(
            f"the wistia_activity watermark {format_timestamp(carry.watermark)!r} is after "
            f"this run's start ({format_timestamp(self.now)}): its state was edited or written "
            "by a clock ahead of this one; continuing from now instead"
        )
        reread_from = (
            carry.reread_from if carry.reread_from and carry.reread_from < self.now else None
        )
        return dataclasses.replace(carry, watermark=self.now, horizon=None, reread_from=reread_from)

    def within_retention(self, start: _Start) -> _Start:
        oldest = self.now - RETENTION
        if start.at >= oldest:
            return start
        self.notes.append(
            f"{start.why} ({format_timestamp(start.at)}) is before the two years of events "
            f"Wistia serves: reading from {format_timestamp(oldest)} instead"
        )
        return _Start(oldest, f"{start.why}, clamped to Wistia's two years")


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

    Raises:
        UnreadableStateError: the activity stream's state is malformed (see `Carry.from_state`).
    """
    planner = _Planner(settings, now)
    default = planner.default_start()
    until = planner.until(events_state, activity_state)
    lookback = settings.lookback

    events_from: _Start | None = None
    if events_selected:
        bookmark = planner.bookmark(events_state)
        if bookmark is None:
            events_from = default
        elif bookmark < until.at or settings.keep_updated:
            events_from = planner.events_start(bookmark)
    carry = planner.carry(activity_state) if activity_selected else None
    activity = activity_selected and (
        carry is None or settings.keep_updated or carry.watermark < until.at
    )
    starts = [events_from] if events_from is not None else []
    if activity:
        activity_start = fetch_start(carry, lookback=lookback, default=default.at)
        why = default.why
        if carry is not None:
            why = (
                f"the wistia_activity watermark {format_timestamp(carry.watermark)} minus the "
                f"{_minutes(lookback)}, and the sessions it left open"
            )
        starts.append(_Start(activity_start, why))
    if not starts:
        return None
    first = planner.within_retention(min(starts, key=lambda start: start.at))
    if first.at >= until.at:
        return None
    return Window(
        fetch_from=first.at,
        until=until.at,
        events_from=max(events_from.at, first.at) if events_from is not None else None,
        carry=carry if activity else None,
        activity=activity,
        reason=f"from {first.why}, to {until.why}",
        notes=tuple(planner.notes),
    )
