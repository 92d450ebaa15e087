"""Which days a run asks `by_date` for, and when a day is final: the daily streams' bookmark.

Wistia's `by_date` statistics count each day's loads, plays and hours; a day's figures grow while
its events arrive, and Wistia dates them by a time zone it does not state (the account's, as the
events' day filters, or UTC). A day is **final** once it is over in every time zone (its end at
UTC-12) and older than the lookback (`lookback_minutes`, the margin the events get for late
updates too). The bookmark (`replication_key_value`) is the first day not final when the last
complete read began: every earlier day has been emitted with its final figures, and every run
asks again from the bookmark to the account's today (in the most advanced zone, UTC+14), so a day
still open is emitted again, replacing itself by its key.

A first run starts at `start_date`, else yesterday (what Wistia itself answers without dates);
`start_date` also moves a bookmark older than itself. With `keep_updated` off and an
`end_date`, no day after it is asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_wistia.pager import MAX_UTC_OFFSET, live_from

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_wistia.settings import TapSettings

BOOKMARK = "replication_key_value"
REPLICATION_KEY = "date"


@dataclass(frozen=True)
class Days:
    """The days [first, last] a run asks for (none when `first` is after `last`), and why."""

    first: dt.date
    last: dt.date
    reason: str
    note: str = ""  # a bookmark refused, naming it

    @property
    def empty(self) -> bool:
        """Whether there is no day to ask for (the configured period is over)."""
        return self.first > self.last

    def params(self) -> dict[str, str]:
        """`start_date` and `end_date` of a `by_date` request (both inclusive, per its spec)."""
        return {"start_date": self.first.isoformat(), "end_date": self.last.isoformat()}


def first_open_day(now: dt.datetime, lookback: dt.timedelta) -> dt.date:
    """The first day that is not final at `now`: not over everywhere, or within the lookback."""
    return live_from(now - lookback)


def days_to_read(state: Mapping[str, Any], settings: TapSettings, now: dt.datetime) -> Days:
    """The days a run at `now` asks for, from the stream's bookmark and the settings."""
    stored = state.get(BOOKMARK)
    bookmark = _day(stored)
    note = ""
    if stored is not None and bookmark is None:
        note = f"the bookmark {stored!r} is not a day (YYYY-MM-DD): reading as a first run"
    start = settings.start_date
    if bookmark is not None:
        first, why = bookmark, f"the bookmark {bookmark.isoformat()} (the first day not final)"
        if start is not None and start > bookmark:
            first, why = start, f"start_date {start.isoformat()}, later than {why}"
    elif start is not None:
        first, why = start, f"start_date {start.isoformat()}"
    else:
        first = (now - dt.timedelta(days=1)).date()
        why = "a first run without start_date: yesterday"
    last = (now + MAX_UTC_OFFSET).date()
    until = "the account's today"
    if not settings.keep_updated and settings.end_date is not None and settings.end_date < last:
        last, until = settings.end_date, f"end_date {settings.end_date.isoformat()}"
    return Days(first, last, f"from {why} to {until}", note)


def settle(state: dict[str, Any], now: dt.datetime, lookback: dt.timedelta) -> None:
    """Move the bookmark once every day asked for has been written: the first day not final."""
    state["replication_key"] = REPLICATION_KEY
    state[BOOKMARK] = first_open_day(now, lookback).isoformat()


def _day(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
