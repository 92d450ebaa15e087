"""Which copies of events a run has already taken, and pages Wistia served twice.

Copies come from page drift: while a day still receives events, new ones push the others down
the pages, so an event can be served again on a later page. A server can also repeat whole
pages (ignoring `page`, or answering the same events for every query): such pages are skipped,
and a run meeting too many of them in a row stops with an error instead of paging forever.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tap_wistia.client import WistiaError

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

NEW: Final = 1
"""`SeenKeys.take`: the first copy of an event in its unit."""
BETTER: Final = 2
"""`SeenKeys.take`: a later copy with a higher percent_viewed (the event grew meanwhile)."""
TAKEN: Final = 0
"""`SeenKeys.take`: a copy no better than the one already taken."""

MAX_REPEATED_PAGES: Final = 5
"""Repeated pages in a row after which a unit's paging is taken as broken (see `RepeatedPages`)."""


class SeenKeys:
    """The event keys of a unit already taken, each with the rank of the copy taken.

    While a day still receives events a copy can come any number of pages later, so every key
    of the unit is kept (`whole_unit`). Pages of a day past do not move: only the keys of the
    current page and the one before it are kept, a guard that costs a page's worth of memory
    instead of the day's (a day of 35,000 events would keep about 4 MB of keys to its end).
    A copy met again is kept on the current page too, so a page served several times in a row
    is recognised on each of them.
    """

    __slots__ = ("_before", "_page", "_whole_unit")

    def __init__(self, *, whole_unit: bool) -> None:
        """Keep every key of the unit, or only those of the last two pages."""
        self._whole_unit = whole_unit
        self._page: dict[Hashable, float] = {}
        self._before: dict[Hashable, float] = {}

    def whole(self) -> SeenKeys:
        """A copy that keeps every key from now on, starting with the keys held here."""
        copy = SeenKeys(whole_unit=True)
        copy._page = {**self._before, **self._page}
        return copy

    def take(self, key: Hashable, rank: float) -> int:
        """`NEW`, `BETTER` (a higher percent_viewed than the copy taken) or `TAKEN`."""
        page = self._page
        taken = page.get(key)
        if taken is None:
            taken = self._before.get(key)
        if taken is None:
            page[key] = rank
            return NEW
        if rank > taken:
            page[key] = rank
            return BETTER
        page[key] = taken
        return TAKEN

    def next_page(self) -> None:
        """The next page of the same unit begins."""
        if not self._whole_unit:
            self._before, self._page = self._page, {}


class RepeatedPageError(WistiaError):
    """Wistia answered several pages in a row with events already read: paging never ends."""


class RepeatedPages:
    """Pages of a run that repeat one already read, and how many came in a row in a unit.

    A page repeats when it holds the same events (keys and times, in order) as a page read
    before in the run, whatever its day, media or number, or when every event on it was
    already taken from earlier pages of its unit. One page is remembered as one number, so the
    run-wide memory of a million-event backfill is about 0.7 MB.
    """

    __slots__ = ("_in_a_row", "_prints", "skipped")

    def __init__(self) -> None:
        """Nothing read yet."""
        self._prints: set[int] = set()
        self._in_a_row = 0
        self.skipped = 0

    def seen_before(self, events: Sequence[dict[str, Any]]) -> bool:
        """Whether a page with these events (as served) was read before in the run."""
        try:
            fingerprint = hash(
                tuple((event.get("event_key"), event.get("received_at")) for event in events)
            )
        except (AttributeError, TypeError):  # an item that is no object, a key that is a list
            fingerprint = hash(repr(events))
        if fingerprint in self._prints:
            return True
        self._prints.add(fingerprint)
        return False

    def new_unit(self) -> None:
        """The next unit (day, or media of a day) begins: the count in a row restarts."""
        self._in_a_row = 0

    def count(self, *, repeated: bool, where: str) -> None:
        """Count one page of the current unit.

        Raises:
            RepeatedPageError: `MAX_REPEATED_PAGES` pages in a row repeated earlier ones.
        """
        if not repeated:
            self._in_a_row = 0
            return
        self.skipped += 1
        self._in_a_row += 1
        if self._in_a_row >= MAX_REPEATED_PAGES:
            msg = (
                f"Wistia answered {self._in_a_row} pages in a row of {where} with events already "
                "read on earlier pages: it seems to ignore the `page` parameter, so paging would "
                "never end. The run stops here, before any bookmark passes these events; check "
                "that api_url points at Wistia's API."
            )
            raise RepeatedPageError(msg)
