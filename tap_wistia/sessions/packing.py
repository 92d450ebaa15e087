"""Complete sessions packed while they wait for their settle: one bytes object each.

A busy day's swept sessions wait for the day's settle. Packed (msgpack behind a prefix that
sorts as the session does and says what a settle needs to decide) they take about 0.4 KB
instead of 0.75 KB of objects, and `Sessions` unpacks them one at a time as they are emitted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import overload

import msgspec

from tap_wistia.sessions.record import BY_END, ViewingSession

_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(ViewingSession).decode
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def pack(session: ViewingSession) -> bytes | None:
    """One bytes object that sorts as the session does by (ended_at, session_id), or None.

    Layout: ended_at (8 bytes, microseconds, big-endian), session_id (UTF-8), NUL, the events
    counted as of unknown duration (4 bytes), then the session in msgpack: what a settle needs
    to decide on most sessions (`packed_facts`) is read without unpacking them.

    About 0.4 KB where the session's objects take about 0.75 KB, and one object instead of a
    dozen. None when msgpack cannot hold it exactly (an integer beyond 64 bits, a lone UTF-16
    surrogate, a NUL in the session_id): such a session is kept as it is.
    """
    try:
        identity = session.session_id.encode()
        body = _PACK.encode(session)
        order = (session.ended_at - _EPOCH) // _MICROSECOND
    except (OverflowError, TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return None
    if b"\0" in identity:
        return None
    unknown = session.event_count if session.media_duration is None else 0
    return b"".join((order.to_bytes(8, "big"), identity, b"\0", unknown.to_bytes(4, "big"), body))


def unpack(packed: bytes) -> ViewingSession:
    """The session `pack` packed, equal to it field for field."""
    return _UNPACK(memoryview(packed)[packed.index(b"\0", 8) + 5 :])


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

    __slots__ = ("_packed", "_whole")

    def __init__(self, packed: list[bytes], whole: list[ViewingSession]) -> None:
        """Both lists sorted: `packed` as bytes, `whole` by (ended_at, session_id)."""
        self._packed = packed
        self._whole = whole

    def __len__(self) -> int:
        """How many sessions."""
        return len(self._packed) + len(self._whole)

    def __iter__(self) -> Iterator[ViewingSession]:
        """The sessions in order, each unpacked only when its turn comes."""
        unpacked = map(unpack, self._packed)
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
