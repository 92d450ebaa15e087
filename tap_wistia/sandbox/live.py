"""What changed in a sandbox account since its days were generated, and the events made live.

Generated days are never edited: tests and faults add events, update them and delete them, and
`Changes` keeps those layers apart (events added, by day; generated events removed; fields
overridden), applied to a day each time it is rendered. The account holds its lock around
every call. `new_event` and `endless_rows` make realistic events of the account's cast for
tests and faults to add or serve.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import msgspec

from tap_wistia.sandbox.viewing import EventError, EventRow, epoch_ms, row_from_event, utc_stamp

if TYPE_CHECKING:
    import random
    from datetime import date, datetime

    from tap_wistia.sandbox.schedule import Schedule

BY_TIME = operator.itemgetter(0, 1)
"""Sort key of rows: (ts_ms, key), oldest first, ties by key (same order as ``row_order``)."""


class Changes:
    """The live layers over the generated days: events added, removed and updated."""

    def __init__(self) -> None:
        """Nothing changed yet."""
        self._added: dict[date, list[EventRow]] = {}
        self._added_days: dict[str, date] = {}
        self._removed: set[str] = set()
        self._overrides: dict[str, dict[str, Any]] = {}

    def apply(self, day: date, rows: list[EventRow]) -> list[EventRow]:
        """A day's generated rows with updates, removals and added events applied, by time."""
        if self._removed or self._overrides:
            rows = [self._revised(row) for row in rows if row.key not in self._removed]
        added = self._added.get(day)
        if added:
            rows = sorted([*rows, *added], key=BY_TIME)
        return rows

    def _revised(self, row: EventRow) -> EventRow:
        fields = self._overrides.get(row.key)
        if fields is None:
            return row
        return row_from_event({**msgspec.json.decode(row.blob), **fields})

    def added_day(self, key: str) -> date | None:
        """The day an added event is filed under (None for a generated one)."""
        return self._added_days.get(key)

    def removed(self, key: str) -> bool:
        """Whether a generated event was removed (deleted, or moved to another time)."""
        return key in self._removed

    def add(self, day: date, row: EventRow) -> None:
        """File an added event under its day."""
        self._added.setdefault(day, []).append(row)
        self._added_days[row.key] = day

    def remove(self, day: date, key: str) -> None:
        """Take an event out of its day: an added one is forgotten, a generated one hidden."""
        if self._added_days.pop(key, None) is not None:
            self._added[day] = [kept for kept in self._added[day] if kept.key != key]
        else:
            self._removed.add(key)
            self._overrides.pop(key, None)

    def override(self, key: str, fields: dict[str, Any]) -> None:
        """Change fields of a generated event that stays at its time."""
        self._overrides[key] = {**self._overrides.get(key, {}), **fields}


def new_event(  # noqa: PLR0913 - the event's parts, keyword-only after the moment
    schedule: Schedule,
    rng: random.Random,
    at: datetime,
    *,
    visitor_key: str | None = None,
    media_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A realistic event of the account's cast at ``at``; ``fields`` override generated values.

    An unknown ``visitor_key`` becomes a new viewer; ``media_id`` may name a deleted media.

    Raises:
        EventError: ``media_id`` is neither a media of the account nor a deleted one.
    """
    media = schedule.media(media_id) if media_id else None
    if media_id and media is None:
        msg = f"media_id {media_id!r} is not a media of this account"
        raise EventError(msg)
    audience = schedule.audience
    if visitor_key is None:
        visitor = audience.pick(rng)
    else:
        visitor = audience.find(visitor_key) or audience.newcomer(visitor_key)
    row = schedule.session(rng, epoch_ms(at), visitor, media or schedule.pick_media(rng, visitor))
    return {**msgspec.json.decode(row.blob), **(fields or {})}


def endless_rows(
    schedule: Schedule, day: date, start_ms: int, first: int, count: int
) -> list[EventRow]:
    """Events past the real end of a day that never ends (the ``endless_day`` fault).

    Position ``first`` onwards, each a new key, a new viewer and the day's first moment
    (``start_ms``), so a newest-first order stays unbroken; the same position gives the same
    event.
    """
    media = schedule.medias[0].hashed_id
    return [
        row_from_event(
            {
                "event_key": f"endless-{day.isoformat()}-{position}",
                "received_at": utc_stamp(start_ms),
                "visitor_key": f"endless-viewer-{position}",
                "media_id": media,
                "percent_viewed": 0.5,
            }
        )
        for position in range(first, first + count)
    ]
