"""The sandbox's memory: collected events in SQLite, profiles folded from them on demand.

Ingest must stay cheap (benchmarks push tens of thousands of records a second), so a collect
request is one ``executemany`` in one transaction and nothing else. Profiles are caught up
lazily: the first read after new events folds just those events into the in-memory profiles,
which gives the same result as a full rebuild because the merge is order-independent. After a
restart the first read rebuilds them from the events, so a file database is all that persists.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from target_lytics.sandbox.profiles import DEFAULT_SCHEMA, Profile, ProfileBook, ProfileSchema

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

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
        schema: ProfileSchema = DEFAULT_SCHEMA,
        *,
        fold_when_idle: float | None = None,
    ) -> None:
        """Open (or create) the database at ``path``; ``schema`` shapes the profiles."""
        self.path = Path(path)
        self.schema = schema
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
        for seq, account, event_time, body in self._unfolded(limit):
            book = self._books.get(account)
            if book is None:
                book = self._books[account] = ProfileBook(self.schema)
            book.add(event_time, seq, msgspec.json.decode(body))
            self._folded_up_to = seq
            folded = True
        return folded

    def _unfolded(self, limit: int) -> Iterator[tuple[int, str, int, str]]:
        cursor = self._reader.execute(
            "SELECT id, account, event_time, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
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


def _connect(path: Path, *, isolation_level: Literal["DEFERRED"] | None) -> sqlite3.Connection:
    """A connection shared by threads (callers hold a lock), in WAL mode for concurrent reads."""
    connection = sqlite3.connect(path, check_same_thread=False, isolation_level=isolation_level)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection
