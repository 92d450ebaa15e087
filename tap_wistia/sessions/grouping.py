"""The pure definition of viewing sessions: deduplicate, group, split by the gap, compute.

`sessionize` is what every run must agree with; the helpers are shared with `ActivityBuilder`,
which computes the same sessions incrementally. Pure: no I/O, no logging, no Singer imports.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from datetime import timedelta
from operator import attrgetter
from typing import TYPE_CHECKING

from tap_wistia.sessions.record import BY_END, ViewingSession

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from tap_wistia.events import ViewEvent

_BY_TIME = attrgetter("received_at", "event_key")
_RECEIVED = attrgetter("received_at")
_NO_GAP = timedelta(0)


def dedupe(events: Iterable[ViewEvent]) -> list[ViewEvent]:
    """Keep one copy per event_key: the highest percent_viewed (None lowest), then the latest.

    Wistia pages shift while a run reads them (the same event on two pages) and a re-read
    lookback window serves events again, possibly with a grown percent_viewed.
    """
    return list(dedupe_into(events, {}).values())


def dedupe_into(events: Iterable[ViewEvent], kept: dict[str, ViewEvent]) -> dict[str, ViewEvent]:
    """Fold events into `kept` (event_key → preferred copy) and return it."""
    for event in events:
        key = event.event_key
        held = kept.setdefault(key, event)
        if held is not event and prefer(event, held):
            kept[key] = event
    return kept


def prefer(new: ViewEvent, old: ViewEvent) -> bool:
    """Whether `new` is the better copy of the same event (a total order: input order is moot)."""
    new_percent, old_percent = new.percent_viewed, old.percent_viewed
    if new_percent != old_percent:
        if new_percent is None:
            return False
        return old_percent is None or new_percent > old_percent
    if new.received_at != old.received_at:
        return new.received_at > old.received_at
    return repr(new) > repr(old)


def sessionize(
    events: Iterable[ViewEvent],
    durations: Mapping[str, float | None],
    gap: timedelta,
) -> list[ViewingSession]:
    """Group events into viewing sessions: the pure definition every run must agree with.

    Any input order and duplicate copies give the same result. `durations` maps media_id to
    seconds (None or absent: deleted or not a video). Sessions come sorted by
    (ended_at, session_id). Linear in events apart from a sort per visitor and media.
    """
    check_span("gap", gap)
    media = MediaDurations(durations)
    with collector_paused():
        runs = _runs(dedupe_into(events, {}).values(), gap)
        sessions = [session_of(run, media.of(run[0].media_id)) for run in runs]
        sessions.sort(key=BY_END)
    return sessions


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while sessionizing, resuming it if it was running.

    Sessionizing allocates about one container per event (groups, sessions) and frees none
    before it returns, so the collector would rescan every held event several times: 40% of
    the time measured. Nothing here creates reference cycles, so nothing is left uncollected.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _runs(events: Iterable[ViewEvent], gap: timedelta) -> list[list[ViewEvent]]:
    """Split deduplicated events into the event lists of sessions, each in time order."""
    return [run for group in groups_of(events).values() for run in group_runs(group, gap)]


def groups_of(events: Iterable[ViewEvent]) -> dict[tuple[str, str], list[ViewEvent]]:
    """Deduplicated events by (visitor_key, media_id), in input order."""
    groups: dict[tuple[str, str], list[ViewEvent]] = {}
    for event in events:
        key = (event.visitor_key, event.media_id)
        group = groups.get(key)
        if group is None:
            groups[key] = [event]
        else:
            group.append(event)
    return groups


def group_runs(group: list[ViewEvent], gap: timedelta) -> list[list[ViewEvent]]:
    """The sessions of one visitor's events on one media, each in time order."""
    if gap <= _NO_GAP:
        return [[event] for event in group]
    if len(group) == 1:
        return [group]
    runs: list[list[ViewEvent]] = []
    _split(group, gap, runs)
    return runs


def _split(group: list[ViewEvent], gap: timedelta, runs: list[list[ViewEvent]]) -> None:
    """Append the sessions of one visitor's events on one media to `runs`.

    Sorting on received_at alone is cheaper; the rare equal received_at sends the group back
    through the full (received_at, event_key) order, which makes the result independent of
    the input order.
    """
    mark = len(runs)
    group.sort(key=_RECEIVED)
    start = 0
    last = group[0].received_at
    for index in range(1, len(group)):
        moment = group[index].received_at
        if moment == last and group[index - 1].event_key > group[index].event_key:
            del runs[mark:]
            group.sort(key=_BY_TIME)
            _split_sorted(group, gap, runs)
            return
        if moment - last > gap:
            runs.append(group[start:index])
            start = index
        last = moment
    runs.append(group[start:] if start else group)


def _split_sorted(group: list[ViewEvent], gap: timedelta, runs: list[list[ViewEvent]]) -> None:
    """Append the sessions of a group already in (received_at, event_key) order."""
    start = 0
    for index in range(1, len(group)):
        if group[index].received_at - group[index - 1].received_at > gap:
            runs.append(group[start:index])
            start = index
    runs.append(group[start:] if start else group)


def session_of(run: list[ViewEvent], duration: float | None) -> ViewingSession:
    """Compute one session's figures from its events in time order."""
    first, latest = run[0], run[-1]
    best = first.percent_viewed
    named, place = first.viewing, latest.viewing
    media_name, email = named.media_name, named.email
    first_name, last_name = named.first_name, named.last_name
    conversion_type = named.conversion_type
    viewed: float | None = None
    if len(run) == 1:
        if best is not None and duration is not None:
            viewed = best * duration
    else:
        best, viewed = _percent_and_time(run, duration)
        for event in run:
            viewing = event.viewing
            if viewing is named:  # shared: the same values as already taken
                continue
            named = viewing
            if viewing.media_name is not None:
                media_name = viewing.media_name
            if viewing.email is not None:
                email = viewing.email
            if viewing.first_name is not None:
                first_name = viewing.first_name
            if viewing.last_name is not None:
                last_name = viewing.last_name
            if viewing.conversion_type is not None:
                conversion_type = viewing.conversion_type
    # Positional, in field order: keyword calls would cost as much as the figures above.
    return ViewingSession(
        first.event_key,
        first.visitor_key,
        first.media_id,
        media_name,
        duration,
        best,
        viewed,
        first.received_at,
        latest.received_at,
        len(run),
        place.country,
        place.region,
        place.city,
        place.org,
        place.lat,
        place.lon,
        place.ip,
        place.embed_url,
        place.user_agent_details,
        email,
        first_name,
        last_name,
        conversion_type,
    )


def _percent_and_time(
    run: list[ViewEvent], duration: float | None
) -> tuple[float | None, float | None]:
    """Highest known percent and the sum of percent * duration, in time order (stable floats)."""
    known = [event.percent_viewed for event in run if event.percent_viewed is not None]
    if not known:
        return None, None
    if duration is None:
        return max(known), None
    return max(known), sum([percent * duration for percent in known], 0.0)


class MediaDurations:
    """Media durations read once per media: seconds as a finite float ≥ 0, else None."""

    __slots__ = ("_cache", "_durations")

    def __init__(self, durations: Mapping[str, float | None]) -> None:
        """Read `durations` lazily, one media at a time."""
        self._durations = durations
        self._cache: dict[str, float | None] = {}

    def of(self, media_id: str) -> float | None:
        """Duration of one media; None when deleted, not a video or nonsense."""
        try:
            return self._cache[media_id]
        except KeyError:
            pass
        value: object = self._durations.get(media_id)
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and number >= 0:
                seconds = number
        self._cache[media_id] = seconds
        return seconds


def check_span(name: str, span: timedelta) -> None:
    """Refuse negative settings early, naming the setting."""
    if span < _NO_GAP:
        msg = f"{name} must be zero or positive, got {span}"
        raise ValueError(msg)
