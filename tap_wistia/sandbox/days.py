"""One account-zone day of a sandbox account's events: made once, kept, and paged.

A day is a list of rows (pre-encoded events) oldest first; a page of 100 is a slice of it, in
the order the sandbox serves: newest first (as Wistia is observed to), oldest first, or shuffled
(stable while the day does not change), each filtered by media and visitor when asked. Lookups
(an event's position, the rows of a media or visitor) are built on first use. `made_once` makes
a day (or a generated UTC day) once however many server threads ask for it at the same time.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections import OrderedDict
    from collections.abc import Callable
    from datetime import date

    from tap_wistia.sandbox.viewing import EventRow

EVENTS_ORDERS = ("newest_first", "oldest_first", "shuffled")
"""How a day's events can be paged: Wistia is observed newest first; no document says so.
``shuffled`` orders a day by a hash of each event's key: stable while the day does not change
(as an unordered database read), an event added later lands anywhere in it."""

_Value = TypeVar("_Value")
SELECTION_CACHE = 256
"""Filtered selections kept per day (a media or a visitor each); more clear them all."""


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The filters of ``/v1/stats/events.json``: account-zone days (inclusive), media, visitor."""

    start: date | None = None
    end: date | None = None
    media_id: str | None = None
    visitor_key: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether a media or visitor filter applies (day filters only bound the walk)."""
        return self.media_id is not None or self.visitor_key is not None


class RenderedDay:
    """One account-zone day of rows, oldest first, with lookups built on first use."""

    __slots__ = ("_index", "_selections", "rows")

    def __init__(self, rows: list[EventRow]) -> None:
        """Rows oldest first; no lookup built yet."""
        self.rows = rows
        self._index: dict[str, int] | None = None
        self._selections: dict[tuple[str | None, ...], list[int]] = {}

    def position(self, key: str) -> int | None:
        """Where an event is in the day (None when it is not there)."""
        if self._index is None:
            self._index = {row.key: position for position, row in enumerate(self.rows)}
        return self._index.get(key)

    def selection(self, media_id: str | None, visitor_key: str | None) -> list[int]:
        """Positions (oldest first) of the rows matching a media and/or visitor filter."""
        wanted = (media_id, visitor_key)
        positions = self._selections.get(wanted)
        if positions is None:
            if len(self._selections) >= SELECTION_CACHE:
                self._selections.clear()
            positions = [
                position
                for position, row in enumerate(self.rows)
                if (media_id is None or row.media_id == media_id)
                and (visitor_key is None or row.visitor_key == visitor_key)
            ]
            self._selections[wanted] = positions
        return positions

    def newest(self, skip: int, limit: int, query: EventQuery) -> tuple[list[EventRow], int]:
        """Up to ``limit`` matching rows newest first after ``skip``, and the day's match count."""
        rows = self.rows
        if not query.filtered:
            size = len(rows)
            chosen = rows[max(0, size - skip - limit) : max(0, size - skip)]
            chosen.reverse()
            return chosen, size
        positions = self.selection(query.media_id, query.visitor_key)
        size = len(positions)
        picked = positions[max(0, size - skip - limit) : max(0, size - skip)]
        return [rows[position] for position in reversed(picked)], size

    def shuffled(self, skip: int, limit: int, query: EventQuery) -> tuple[list[EventRow], int]:
        """Up to ``limit`` matching rows in the day's shuffled order after ``skip``, and count."""
        wanted = ("shuffled", query.media_id, query.visitor_key)
        positions = self._selections.get(wanted)
        if positions is None:
            rows = self.rows
            positions = sorted(
                self.selection(query.media_id, query.visitor_key),
                key=lambda position: _scrambled(rows[position].key),
            )
            self._selections[wanted] = positions
        rows = self.rows
        return [rows[position] for position in positions[skip : skip + limit]], len(positions)

    def oldest(self, skip: int, limit: int, query: EventQuery) -> tuple[list[EventRow], int]:
        """Up to ``limit`` matching rows oldest first after ``skip``, and the day's match count."""
        rows = self.rows
        if not query.filtered:
            return rows[skip : skip + limit], len(rows)
        positions = self.selection(query.media_id, query.visitor_key)
        return [rows[position] for position in positions[skip : skip + limit]], len(positions)

    def append(self, row: EventRow) -> None:
        """Add a row newer than every other (page drift's fast path)."""
        self.rows.append(row)
        if self._index is not None:
            self._index[row.key] = len(self.rows) - 1
        self._selections.clear()

    def replace(self, position: int, row: EventRow) -> None:
        """Swap a row for its updated version at the same time."""
        self.rows[position] = row
        self._selections.clear()


def _scrambled(key: str) -> bytes:
    """A stable pseudo-random sort key of an event (the ``shuffled`` order)."""
    return hashlib.blake2b(key.encode(), digest_size=8).digest()


class OwnedLock:
    """A reentrant lock that tells whether the calling thread holds it.

    `made_once` needs to know: a thread holding the lock must never wait for another thread's
    value, since that thread needs the lock to store it.
    """

    __slots__ = ("_depth", "_lock", "_owner")

    def __init__(self) -> None:
        """Free; owned by no thread."""
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        """Take the lock (again, if this thread holds it already)."""
        self._lock.acquire()
        self._owner = threading.get_ident()
        self._depth += 1

    def __exit__(self, *_: object) -> None:
        """Give it back once for each time it was taken."""
        self._depth -= 1
        if not self._depth:
            self._owner = None
        self._lock.release()

    def held_here(self) -> bool:
        """Whether the calling thread holds it (only that thread can set it to its own id)."""
        return self._owner == threading.get_ident()


def made_once(
    lock: OwnedLock,
    cache: OrderedDict[date, _Value],
    making: dict[date, Future[_Value]],
    key: date,
    make: Callable[[], _Value],
) -> _Value:
    """`cache[key]` (now the most recent), awaited from the thread making it, or made here.

    `make` runs outside the lock, once per key however many threads ask at the same time
    (they wait on its `Future` in `making`), so other keys keep being served meanwhile; it
    stores its value in `cache` itself, under the lock. A caller that holds the lock (a live
    change) makes the value itself instead of waiting for another thread to store it.
    """
    held = lock.held_here()
    with lock:
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
        if held:
            return make()
        future = making.get(key)
        mine = future is None
        if future is None:
            future = making[key] = Future()
    if not mine:
        return future.result()
    try:
        value = make()
    except BaseException as error:
        future.set_exception(error)
        raise
    finally:
        with lock:
            making.pop(key, None)
    future.set_result(value)
    return value
