"""The sandbox's memory: collected events in SQLite, profiles folded from them on demand.

Ingest must stay cheap (benchmarks push tens of thousands of records a second), so a collect
request is one ``executemany`` in one transaction and nothing else. Profiles are caught up
lazily: the first read after new events folds just those events into the in-memory profiles,
which gives the same result as a full rebuild because the merge is order-independent. After a
restart the first read rebuilds them from the events, so a file database is all that persists.

Each event reaches profiles only through the schema version that was published when it arrived
(the newest version whose ``marker`` is below the event's id): what its stream's mappings make
of it (``mapper``). Events collected before any mapping was published stay in their stream and
never reach a profile, as in Lytics; a publish waits for the fold in progress (``publishing``).
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from target_lytics.sandbox.mapper import ProfileMapper
from target_lytics.sandbox.profiles import Profile, ProfileBook

if TYPE_CHECKING:
    from target_lytics.sandbox.definitions import Version

VersionSource = Callable[[str], "Sequence[Version]"]
"""An account's published schema versions, oldest first."""

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,          -- arrival sequence: breaks event-time ties
    account TEXT NOT NULL,
    stream TEXT NOT NULL,
    event_time INTEGER NOT NULL,     -- microseconds since the epoch (timestamp_field or arrival)
    arrival INTEGER NOT NULL,        -- microseconds since the epoch
    body TEXT NOT NULL               -- the record as compact JSON
);
CREATE TABLE IF NOT EXISTS streams (
    account TEXT NOT NULL,
    stream TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (account, stream)
);
"""
_CATCH_UP_CHUNK = 5_000
_IDLE_FOLD_STEP = 1_000  # events per step, so a request arriving meanwhile waits little
# No index on (stream, id): it would cost ingest a third of its speed, and listing a stream's
# newest events walks the table backwards from the newest row, which is quick in practice.


class NewEvent(NamedTuple):
    """One accepted record on its way into the store."""

    event_time: int
    body: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One stored event, as the listing endpoints show it."""

    id: int
    account: str
    stream: str
    event_time: int
    arrival: int
    record: dict[str, Any]


class EventStore:
    """Events and the profiles they build, safe to share between request threads.

    One writer connection behind a lock appends events; a second connection behind another lock
    serves reads and profile catch-up, so reads never stall ingest (SQLite WAL mode). With
    ``fold_when_idle`` a background thread folds new events into the profiles once no write has
    come for that many seconds, so a read after a large load does not pay for all of it.
    """

    def __init__(
        self,
        path: str | Path,
        versions: VersionSource,
        *,
        fold_when_idle: float | None = None,
    ) -> None:
        """Open (or create) the database at ``path``; ``versions`` gives each account's schema."""
        self.path = Path(path)
        self._versions = versions
        self._mappers: dict[str, list[ProfileMapper]] = {}
        self._writer = _connect(self.path, isolation_level="DEFERRED")
        self._writer.executescript(_SCHEMA_SQL)
        self._reader = _connect(self.path, isolation_level=None)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._books: dict[str, ProfileBook] = {}
        self._folded_up_to = 0
        self._last_write = time.monotonic()
        self._closing = threading.Event()
        self._folder: threading.Thread | None = None
        if fold_when_idle is not None:
            self._folder = threading.Thread(
                target=self._fold_when_idle,
                args=(fold_when_idle,),
                name="lytics-sandbox-profiles",
                daemon=True,
            )
            self._folder.start()

    def close(self) -> None:
        """Close both connections; the file keeps everything for the next start."""
        self._closing.set()
        if self._folder is not None:
            self._folder.join()
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()

    def append(self, account: str, stream: str, events: Sequence[NewEvent], arrival: int) -> int:
        """Store one request's accepted records in one transaction; returns how many."""
        if not events:
            return 0
        rows = [(account, stream, event.event_time, arrival, event.body) for event in events]
        with self._write_lock, self._writer:
            self._writer.executemany(
                "INSERT INTO events (account, stream, event_time, arrival, body)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._writer.execute(
                "INSERT INTO streams (account, stream, events) VALUES (?, ?, ?)"
                " ON CONFLICT (account, stream) DO UPDATE SET events = events + excluded.events",
                (account, stream, len(rows)),
            )
        self._last_write = time.monotonic()
        return len(rows)

    def clear(self) -> None:
        """Forget every event and profile (the sandbox's reset)."""
        with self._write_lock, self._writer:
            self._writer.execute("DELETE FROM events")
            self._writer.execute("DELETE FROM streams")
        with self._read_lock:
            self._books.clear()
            self._mappers.clear()
            self._folded_up_to = 0

    def stream_counts(self, account: str | None = None) -> dict[str, int]:
        """Events per stream (of one account, or summed over all)."""
        sql = "SELECT stream, SUM(events) FROM streams"
        params: tuple[str, ...] = ()
        if account is not None:
            sql += " WHERE account = ?"
            params = (account,)
        with self._read_lock:
            rows = self._reader.execute(sql + " GROUP BY stream ORDER BY stream", params)
            return dict(rows.fetchall())

    def events(
        self, stream: str, *, account: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[StoredEvent]:
        """A stream's events, newest first."""
        sql = "SELECT id, account, stream, event_time, arrival, body FROM events WHERE stream = ?"
        params: tuple[Any, ...] = (stream,)
        if account is not None:
            sql += " AND account = ?"
            params += (account,)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        with self._read_lock:
            rows = self._reader.execute(sql, (*params, limit, offset)).fetchall()
        return [
            StoredEvent(seq, owner, name, event_time, arrival, msgspec.json.decode(body))
            for seq, owner, name, event_time, arrival, body in rows
        ]

    def profile(self, account: str, field: str, value: str) -> Profile | None:
        """The merged profile holding an identity value in an account, or None."""
        with self._read_lock:
            self._catch_up()
            book = self._books.get(account)
            return None if book is None else book.find(field, value)

    def profiles(
        self, account: str | None = None, *, limit: int | None = None, offset: int = 0
    ) -> tuple[int, list[Profile]]:
        """(number of profiles, one page of them oldest first) of one account or all."""
        with self._read_lock:
            self._catch_up()
            accounts = sorted(self._books) if account is None else [account]
            books = [self._books[name] for name in accounts if name in self._books]
            total = sum(map(len, books))
            page: list[Profile] = []
            for book in books:
                if limit is not None and len(page) >= limit:
                    break
                wanted = None if limit is None else limit - len(page)
                page += book.profiles(limit=wanted, offset=offset)
                offset = max(0, offset - len(book))
            return total, page

    def _catch_up(self, limit: int = -1) -> bool:
        """Fold up to ``limit`` (-1: all) new events into the profiles (read lock held).

        Returns whether events were folded.
        """
        folded = False
        mappers: dict[str, list[ProfileMapper]] = {}
        for seq, account, stream, event_time, body in self._unfolded(limit):
            self._folded_up_to = seq
            folded = True
            known = mappers.get(account)
            if known is None:
                known = mappers[account] = self._mappers_of(account)
            mapper = _in_force(known, seq)
            if mapper is None:
                continue
            values = mapper.user_values(stream, msgspec.json.decode(body))
            if not values:
                continue
            book = self._books.get(account)
            if book is None:
                book = self._books[account] = ProfileBook(mapper.profile_schema)
            book.schema = mapper.profile_schema
            book.add(event_time, seq, values)
        return folded

    def _mappers_of(self, account: str) -> list[ProfileMapper]:
        """The account's published versions, compiled (again only when one was published)."""
        versions = self._versions(account)
        known = self._mappers.get(account, [])
        if len(known) != len(versions):
            known = self._mappers[account] = [ProfileMapper(version) for version in versions]
        return known

    def live_mapper(self, account: str) -> ProfileMapper | None:
        """The account's newest published version (None: nothing was ever published)."""
        with self._read_lock:
            known = self._mappers_of(account)
        return known[-1] if known else None

    @contextmanager
    def publishing(self) -> Iterator[int]:
        """Hold folding while a version is published; yields its marker (the newest event id).

        Events stored up to the marker were collected before the version: they keep the
        version they arrived under, whenever they are folded.
        """
        with self._read_lock:
            row = self._reader.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
            yield int(row[0])
            self._mappers.clear()

    def stream_fields(
        self, account: str, stream: str, *, sample: int = 10_000
    ) -> list[dict[str, Any]]:
        """The fields of a stream's newest ``sample`` events: dotted paths and how often seen."""
        counts: dict[str, int] = {}
        for event in self.events(stream, account=account, limit=sample):
            for path in _paths(event.record):
                counts[path] = counts.get(path, 0) + 1
        return [{"field": path, "count": count} for path, count in sorted(counts.items())]

    def _unfolded(self, limit: int) -> Iterator[tuple[int, str, str, int, str]]:
        cursor = self._reader.execute(
            "SELECT id, account, stream, event_time, body FROM events WHERE id > ?"
            " ORDER BY id LIMIT ?",
            (self._folded_up_to, limit),
        )
        while rows := cursor.fetchmany(_CATCH_UP_CHUNK):
            yield from rows

    def _fold_when_idle(self, idle_seconds: float) -> None:
        """Background: fold new events in small steps whenever ingest has paused."""
        while not self._closing.wait(idle_seconds):
            while time.monotonic() - self._last_write >= idle_seconds:
                with self._read_lock:
                    if self._closing.is_set() or not self._catch_up(_IDLE_FOLD_STEP):
                        break


def _in_force(mappers: list[ProfileMapper], seq: int) -> ProfileMapper | None:
    """The version an event with id ``seq`` arrived under (published before it was stored)."""
    position = bisect.bisect_left([mapper.marker for mapper in mappers], seq)
    return mappers[position - 1] if position else None


def _paths(record: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for name, value in record.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict) and value:
            yield from _paths(value, f"{path}.")
        else:
            yield path


def _connect(path: Path, *, isolation_level: Literal["DEFERRED"] | None) -> sqlite3.Connection:
    """A connection shared by threads (callers hold a lock), in WAL mode for concurrent reads."""
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=isolation_level)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection
