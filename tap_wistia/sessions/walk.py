"""Walking a unit of Wistia's paging newest first: what the walk read, and the order it checks.

See `ActivityBuilder.start_walk`: sessions that the order proves complete are computed while
the unit is read; an event that breaks the order near them raises `WalkBrokenError`.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from tap_wistia.events import ViewEvent, format_timestamp

if TYPE_CHECKING:
    from datetime import datetime, timedelta


class WalkBrokenError(Exception):
    """An event broke the newest-first order a walk relies on, where the walk swept sessions.

    Nothing wrong has been emitted: swept sessions wait for the settle. See
    `ActivityBuilder.abandon_walk`.
    """

    def __init__(self, event: ViewEvent, why: str) -> None:
        """Name the event and what about it breaks the order."""
        self.event = event
        super().__init__(
            f"event {event.event_key} received at {format_timestamp(event.received_at)} breaks "
            f"the newest-first order: {why}"
        )


class _Waiting:
    """A visitor-and-media group's walked events not yet swept, and the oldest of them."""

    __slots__ = ("keys", "oldest")

    def __init__(self, oldest: datetime, key: str) -> None:
        self.oldest = oldest
        self.keys = [key]


class Walk:
    """What a walk has read (see `ActivityBuilder.start_walk`)."""

    __slots__ = (
        "decided_from",
        "disordered",
        "live",
        "newest",
        "oldest",
        "pending",
        "swept_before",
        "swept_keys",
        "swept_mark",
    )

    def __init__(self, swept_mark: int, *, live: bool) -> None:
        """A walk whose sessions begin at `swept_mark` in the builder's list."""
        self.swept_mark = swept_mark  # where this walk's sessions begin in the builder's list
        self.live = live  # see `ActivityBuilder.start_walk`
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.decided_from: datetime | None = None  # earliest start of a session swept or kept
        # hash() of each swept event_key: an event's key string is then freed with the event.
        # Two keys of one day sharing a 64-bit hash would only make the walk break for nothing
        # (a re-read of the day), never a wrong session. A walk of a day past keeps two sweeps'.
        self.swept_keys: set[int] = set()
        self.swept_before: set[int] = set()
        self.disordered = False  # an event came newer than one walked before it
        # Oldest first in the order of the walk: groups the walk left behind come first.
        self.pending: OrderedDict[tuple[str, str], _Waiting] = OrderedDict()

    def take(self, event: ViewEvent, gap: timedelta) -> None:
        """Check a new event (not a copy of a held one) against the order and queue it.

        Raises:
            WalkBrokenError: it is a copy of a swept event, or newer than an event walked
                before it and within `gap` of a session the walk has already decided.
        """
        key, moment = event.event_key, event.received_at
        hashed = hash(key)
        if hashed in self.swept_keys or hashed in self.swept_before:
            raise WalkBrokenError(event, "a copy of an event already swept")
        if self.oldest is None or moment <= self.oldest:
            self.oldest = moment
        elif self.decided_from is not None and moment >= self.decided_from - gap:
            raise WalkBrokenError(
                event, f"it comes after one received at {format_timestamp(self.oldest)}"
            )
        else:
            self.disordered = True
        if self.newest is None or moment > self.newest:
            self.newest = moment
        group = (event.visitor_key, event.media_id)
        waiting = self.pending.get(group)
        if waiting is None:
            self.pending[group] = _Waiting(moment, key)
            return
        waiting.keys.append(key)
        waiting.oldest = min(waiting.oldest, moment)
        self.pending.move_to_end(group)

    def forget_old_sweeps(self) -> None:
        """Before a sweep: a walk of a day past forgets the events swept before the last sweep."""
        if not self.live:
            self.swept_before, self.swept_keys = self.swept_keys, set()

    def decided(self, started_at: datetime) -> None:
        """A session starting at `started_at` was swept or left to the settle: guard it."""
        if self.decided_from is None or started_at < self.decided_from:
            self.decided_from = started_at
