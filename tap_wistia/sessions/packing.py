"""Complete sessions packed while they wait for their settle: one bytes object each.

A busy day's swept sessions wait for the day's settle. Packed (msgpack behind a prefix that
sorts as the session does and says what a settle needs to decide, the values sessions repeat
kept once in a `SharedValues` table) they take about 0.2 KB instead of 0.75 KB of objects, and
`Sessions` unpacks them one at a time as they are emitted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import overload

import msgspec

from tap_wistia.sessions.record import BY_END, ViewingSession

_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder().decode
#: Fields whose values the sessions of a day repeat: packed as indexes into `SharedValues`.
_SHARED_FIELDS = tuple(
    ViewingSession._fields.index(name)
    for name in (
        "media_id",
        "media_name",
        "country",
        "region",
        "city",
        "org",
        "embed_url",
        "user_agent_details",
    )
)
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class SharedValues:
    """The values packed sessions repeat (media, place, page, browser), each held once.

    The sessions of a day name the same few medias, places, pages and browsers again and
    again; packed as indexes into this table they take half the bytes. Values are told apart
    by identity, not equality (events share one object per value, see `view_event`), so
    values Python deems equal across types (`{"mobile": 1}` and `{"mobile": True}`) never
    merge. The table keeps every value it indexes alive, so an identity is never reused; one
    table serves the sessions of one settle.
    """

    __slots__ = ("_index", "values")

    def __init__(self) -> None:
        """An empty table."""
        self._index: dict[int, int] = {}
        self.values: list[object] = []

    def ref(self, value: object) -> int:
        """The index of `value`, added if new."""
        key = id(value)
        ref = self._index.get(key)
        if ref is None:
            ref = self._index[key] = len(self.values)
            self.values.append(value)
        return ref


def pack(session: ViewingSession, shared: SharedValues) -> bytes | None:
    """One bytes object that sorts as the session does by (ended_at, session_id), or None.

    Layout: ended_at (8 bytes, microseconds, big-endian), session_id (UTF-8), NUL, the events
    counted as of unknown duration (4 bytes), then the other fields in msgpack, repeated values
    as their index in `shared`: what a settle needs to decide on most sessions (`packed_facts`)
    is read without unpacking them.

    About 0.2 KB where the session's objects take about 0.75 KB, and one object instead of a
    dozen. None when msgpack cannot hold it exactly (an integer beyond 64 bits, a lone UTF-16
    surrogate outside the shared values, a NUL in the session_id): such a session is kept as it
    is.
    """
    fields: list[object] = list(session)
    fields[0] = None  # the session_id is in the prefix
    for index in _SHARED_FIELDS:
        value = fields[index]
        if value is not None:
            fields[index] = shared.ref(value)
    try:
        identity = session.session_id.encode()
        body = _PACK.encode(fields)
        order = (session.ended_at - _EPOCH) // _MICROSECOND
    except (OverflowError, TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return None
    if b"\0" in identity:
        return None
    unknown = session.event_count if session.media_duration is None else 0
    return b"".join((order.to_bytes(8, "big"), identity, b"\0", unknown.to_bytes(4, "big"), body))


def unpack(packed: bytes, shared: SharedValues) -> ViewingSession:
    """The session `pack` packed with `shared`, equal to it field for field."""
    end = packed.index(b"\0", 8)
    fields = _UNPACK(memoryview(packed)[end + 5 :])
    fields[0] = packed[8:end].decode()
    values = shared.values
    for index in _SHARED_FIELDS:
        ref = fields[index]
        if ref is not None:
            fields[index] = values[ref]
    return ViewingSession._make(fields)


def packed_facts(packed: bytes) -> tuple[datetime, str, int]:
    """A packed session's ended_at, session_id and events of unknown duration, not unpacking it."""
    end = packed.index(b"\0", 8)
    ended = _EPOCH + int.from_bytes(packed[:8], "big") * _MICROSECOND
    return ended, packed[8:end].decode(), int.from_bytes(packed[end + 1 : end + 5], "big")


class Sessions(Sequence[ViewingSession]):
    """The sessions a settle emits, sorted by (ended_at, session_id), decoded as they are read.

    A busy day's swept sessions wait for their settle packed (`pack`); unpacking them all at
    once would hold the day's sessions as objects again, so they are unpacked one at a time,
    merged with the sessions computed at the settle. Compares equal to a list of the same
    sessions.
    """

    __slots__ = ("_packed", "_shared", "_whole")

    def __init__(
        self,
        packed: list[bytes],
        whole: list[ViewingSession],
        shared: SharedValues | None = None,
    ) -> None:
        """Both lists sorted: `packed` (with `shared`) as bytes, `whole` by (ended_at, id)."""
        self._packed = packed
        self._whole = whole
        self._shared = shared if shared is not None else SharedValues()

    def __len__(self) -> int:
        """How many sessions."""
        return len(self._packed) + len(self._whole)

    def __iter__(self) -> Iterator[ViewingSession]:
        """The sessions in order, each unpacked only when its turn comes."""
        shared = self._shared
        unpacked = (unpack(packed, shared) for packed in self._packed)
        if not self._whole:
            return unpacked
        if not self._packed:
            return iter(self._whole)
        return heapq.merge(unpacked, self._whole, key=BY_END)

    @overload
    def __getitem__(self, index: int) -> ViewingSession: ...
    @overload
    def __getitem__(self, index: slice) -> list[ViewingSession]: ...
    def __getitem__(self, index: int | slice) -> ViewingSession | list[ViewingSession]:
        """A session by position (unpacks those before it: for tests and small settles)."""
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same sessions in the same order."""
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-like: compared by content

    def __repr__(self) -> str:
        """The sessions, as a list would show them."""
        return f"Sessions({list(self)!r})"
