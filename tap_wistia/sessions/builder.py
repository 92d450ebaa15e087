"""`ActivityBuilder`: one run's sessions, computed incrementally, agreeing with `sessionize`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tap_wistia.events import UNKNOWN_MEDIA_DURATION, EventProblems, ViewEvent, format_timestamp
from tap_wistia.sessions.carry import Carry
from tap_wistia.sessions.grouping import (
    MediaDurations,
    check_span,
    collector_paused,
    group_runs,
    groups_of,
    prefer,
    session_of,
)
from tap_wistia.sessions.packing import Sessions, SharedValues, pack, packed_facts, unpack
from tap_wistia.sessions.record import BY_END, ViewingSession
from tap_wistia.sessions.walk import Walk, WalkBrokenError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime, timedelta


class ActivityBuilder:
    """Build the viewing sessions of one run incrementally, agreeing with `sessionize`.

    Feed every event read since `fetch_start(carry, ...)` with `add` (any order), declare
    progress with `settle(watermark)` (e.g. after each day read) and end with
    `finish(watermark)`. Each call returns the sessions to emit now (`Sessions`, sorted by
    (ended_at, session_id), unpacked as they are read); `carry` is the state to store
    afterwards. Memory holds the events of sessions still open plus those added since the
    last settle; closed sessions are freed.

    A busy day holds tens of thousands of events until its settle. Wistia pages a day newest
    first, so a caller reading that way can *walk* it (`start_walk`, `add` newest first, `sweep`
    after each page): the sessions that order proves complete are computed early and their
    events freed; only the sessions wait for the settle, packed. The order is observed, not
    documented, so it is checked: an event that breaks it near a swept session raises
    `WalkBrokenError`, and the caller gives up the walk (`abandon_walk`) and adds that unit's
    events again. Walking or not, the sessions emitted are the same.
    """

    def __init__(
        self,
        durations: Mapping[str, float | None],
        *,
        gap: timedelta,
        lookback: timedelta,
        carry: Carry | None,
        problems: EventProblems | None = None,
    ) -> None:
        """Start a run from the carry the previous run stored (None on a first run).

        `problems` receives `unknown_media_duration` counts (events in emitted sessions whose
        media has no known duration); pass the run's counter to log everything in one line.
        """
        check_span("gap", gap)
        check_span("lookback", lookback)
        self._media = MediaDurations(durations)
        self._gap = gap
        self._lookback = lookback
        self._start = carry
        self._final_before: datetime | None = None
        if carry is not None:
            self._final_before = carry.horizon
            if self._final_before is None:
                self._final_before = carry.watermark - lookback - gap
        self._pool: dict[str, ViewEvent] = {}
        self._open: list[tuple[str, datetime, datetime]] = []
        self._spans: dict[str, tuple[datetime, datetime]] = {}
        self._emitted: dict[str, str] = dict(carry.emitted) if carry is not None else {}
        self._walk: Walk | None = None
        # Complete sessions waiting for the next settle, packed (`pack`) where they can be.
        self._swept: list[bytes | ViewingSession] = []
        self._shared = SharedValues()  # the values the packed ones repeat
        self._settled: datetime | None = None
        self._carry = carry
        self._finished = False
        self.problems = problems if problems is not None else EventProblems()

    @property
    def carry(self) -> Carry:
        """The carry to store: after any settle an interrupted run resumes correctly from it.

        Before the first settle it is the carry the builder started with.

        Raises:
            RuntimeError: a first run (no starting carry) has not settled yet: there is nothing
                to store.
        """
        if self._carry is None:
            msg = "no carry yet: a first run has one only after its first settle or finish"
            raise RuntimeError(msg)
        return self._carry

    @property
    def held_events(self) -> int:
        """How many events are held in memory (open sessions and events not yet settled)."""
        return len(self._pool)

    def add(self, event: ViewEvent) -> None:
        """Take one event of this run (duplicates welcome: the best copy is kept).

        Raises:
            ValueError: the event is older than a watermark already settled and not part of a
                session still held, so its session may already be emitted: the caller settled
                too early (settle only once every event before the watermark was added).
            WalkBrokenError: while walking, the event breaks the order the walk relies on; it
                was not taken (see `abandon_walk`).
        """
        self._check_running()
        settled = self._settled
        if (
            settled is not None
            and event.received_at < settled
            and event.event_key not in self._pool
        ):
            msg = (
                f"event {event.event_key} received at {format_timestamp(event.received_at)} "
                f"was added after settle({format_timestamp(settled)}); settle(w) must come only "
                "after every event received before w was added"
            )
            raise ValueError(msg)
        key = event.event_key
        held = self._pool.get(key)
        if held is None:
            if self._walk is not None:
                self._walk.take(event, self._gap)
            self._pool[key] = event
        elif prefer(event, held):
            if self._walk is not None and event.received_at != held.received_at:
                raise WalkBrokenError(event, "a copy of it received at another time")
            self._pool[key] = event

    def start_walk(self, *, live: bool = True) -> None:
        """Begin walking one unit of Wistia's paging (a day, or one media's events of a day).

        Until the next `start_walk`, `abandon_walk` or settle, `add` expects the unit's events
        newest first (any order within a page: `sweep` runs between pages) and checks it.
        Contract (which Wistia's days and media filters meet): no event added after the walk
        belongs to one of its visitor-and-media groups within `gap` of what it read, unless it
        is newer than everything the walk read by more than `gap`.

        A copy of an event already swept breaks the walk. `live`: the unit's day may still
        receive events, so its pages move and a copy can come on any later page: every swept
        event of the unit is remembered. A day past (`live` False) has pages that do not move:
        a copy can come only on the page after its event's, so only the events of the last two
        sweeps are remembered.
        """
        self._check_running()
        self._walk = Walk(len(self._swept), live=live)

    def sweep(self) -> None:
        """Compute the sessions the walk so far proves complete, and free their events.

        A visitor-and-media group whose oldest walked event is more than `gap` newer than the
        oldest event walked so far can gain no older event; its sessions ending more than `gap`
        before the walk's newest event can gain no newer one. Those sessions wait for the next
        settle (`WalkBrokenError` may still take them back); the others stay held as usual.
        """
        walk = self._walk
        if walk is None or walk.oldest is None or walk.newest is None:
            return
        line, top = walk.oldest + self._gap, walk.newest - self._gap
        walk.forget_old_sweeps()
        pending, pool, final_before = walk.pending, self._pool, self._final_before
        if walk.disordered:
            # Out of order, the queue's front is no longer the most complete group: look at
            # every group, so that an order that breaks the walk is caught at its next event.
            complete = [group for group, waiting in pending.items() if waiting.oldest > line]
        else:
            complete = []
            for group, waiting in pending.items():  # newest first: the front is the most complete
                if waiting.oldest <= line:
                    break
                complete.append(group)
        with collector_paused():
            for group in complete:
                waiting = pending.pop(group)
                for run in group_runs([pool[key] for key in waiting.keys], self._gap):
                    first, ended = run[0], run[-1].received_at
                    walk.decided(first.received_at)
                    if ended >= top:  # the next unit's events may still join it
                        continue
                    for event in run:
                        walk.swept_keys.add(hash(event.event_key))
                        del pool[event.event_key]
                    if final_before is None or ended >= final_before:
                        session = session_of(run, self._media.of(first.media_id))
                        self._swept.append(pack(session, self._shared) or session)

    def abandon_walk(self) -> None:
        """Give up the walk (after `WalkBrokenError`): forget the sessions it swept.

        Their events are no longer held, so the caller must add every event of the walk's unit
        again (not walking); the copies still held are simply deduplicated.
        """
        walk = self._walk
        if walk is not None:
            del self._swept[walk.swept_mark :]
            self._walk = None

    def settle(self, watermark: datetime) -> Sessions:
        """Declare every event received before `watermark` added; return the sessions to emit.

        Those are the sessions now closed (ended before `watermark - gap`: no later event can
        join them) whose figures differ from what was last emitted, excluding sessions final
        before this run's start (see `Carry.horizon`). Closed sessions' events are freed.
        """
        return self._close(watermark, include_open=False)

    def finish(self, watermark: datetime) -> Sessions:
        """End the run: like `settle`, but also emit the open sessions that changed.

        An open session is emitted as it stands; the next run recomputes it whole and emits it
        again only if it grew.
        """
        sessions = self._close(watermark, include_open=True)
        self._finished = True
        return sessions

    def _check_running(self) -> None:
        if self._finished:
            msg = "this run has finished; start a new ActivityBuilder with its carry"
            raise RuntimeError(msg)

    def _close(self, watermark: datetime, *, include_open: bool) -> Sessions:
        """Emit what is closed (and, at the end of the run, what is open); keep the rest."""
        self._check_running()
        if self._settled is not None and watermark < self._settled:
            msg = (
                f"watermark {format_timestamp(watermark)} is before the one already settled, "
                f"{format_timestamp(self._settled)}: watermarks only move forward"
            )
            raise ValueError(msg)
        limit = watermark - self._gap
        keep_from = self._horizon_after(watermark)
        kept: dict[str, ViewEvent] = {}
        open_now: list[tuple[str, datetime, datetime]] = []
        self._walk = None
        packed, out = self._changed_swept(keep_from)
        shared, self._shared = self._shared, SharedValues()
        # The groups alone hold the events from here on, and each group is dropped once its
        # sessions are done: a day of events and a day of sessions are never held together.
        groups = groups_of(self._pool.values())
        self._pool = kept
        with collector_paused():
            while groups:
                _, group = groups.popitem()
                for run in group_runs(group, self._gap):
                    first, ended = run[0], run[-1].received_at
                    if ended >= limit and not include_open:
                        kept.update((event.event_key, event) for event in run)
                        open_now.append((first.event_key, first.received_at, ended))
                        continue
                    if self._final_before is not None and ended < self._final_before:
                        continue
                    session = session_of(run, self._media.of(first.media_id))
                    if self._changed(session, keep_from):
                        out.append(session)
        self._open = open_now
        self._settled = watermark
        self._carry = self._next_carry(watermark, keep_from)
        out.sort(key=BY_END)
        packed.sort()
        return Sessions(packed, out, shared)

    def _changed_swept(
        self, keep_from: datetime | None
    ) -> tuple[list[bytes], list[ViewingSession]]:
        """Take the swept sessions that changed, those packed still packed, the others as they are.

        Swept sessions are complete whatever the watermark: every one of their events is read.
        Packed ones are unpacked when they are emitted, and here only if they must be compared.
        """
        swept, self._swept = self._swept, []
        packed: list[bytes] = []
        whole: list[ViewingSession] = []
        for entry in swept:
            if isinstance(entry, bytes):
                if self._changed_packed(entry, keep_from):
                    packed.append(entry)
            elif self._changed(entry, keep_from):
                whole.append(entry)
        return packed, whole

    def _changed_packed(self, packed: bytes, keep_from: datetime | None) -> bool:
        """`_changed` for a packed session, unpacking it only to compare or remember it.

        A session ending before the next carry's window, of which no fingerprint is held, is
        emitted without further ado: most of a backfill's.
        """
        ended, key, unknown = packed_facts(packed)
        if keep_from is None or ended >= keep_from or key in self._emitted:
            return self._changed(unpack(packed, self._shared), keep_from)
        if unknown:
            self.problems[UNKNOWN_MEDIA_DURATION] += unknown
        return True

    def _changed(self, session: ViewingSession, keep_from: datetime | None) -> bool:
        """Whether a complete session differs from the one last emitted; remember it if so.

        Only sessions of the next carry's window (ending at or after `keep_from`, every session
        when it is None) are remembered: a day's worth of fingerprints would be held until the
        carry is cut to its window anyway.
        """
        key = session.session_id
        if keep_from is None or session.ended_at >= keep_from:
            fingerprint = session.fingerprint()
            self._spans[key] = (session.started_at, session.ended_at)
            if self._emitted.get(key) == fingerprint:
                return False
            self._emitted[key] = fingerprint
        elif key in self._emitted and self._emitted.pop(key) == session.fingerprint():
            return False
        if session.media_duration is None:
            self.problems[UNKNOWN_MEDIA_DURATION] += session.event_count
        return True

    def _horizon_after(self, watermark: datetime) -> datetime | None:
        """The horizon of the carry after settling at `watermark`; None while re-reading.

        While this run re-reads time the previous run already covered (watermark before the
        starting carry's), the starting carry stays valid and keeps every fingerprint.
        """
        start = self._start
        if start is not None and watermark < start.watermark:
            return None
        horizon = watermark - self._lookback - self._gap
        if self._final_before is not None and self._final_before > horizon:
            horizon = self._final_before
        return horizon

    def _next_carry(self, watermark: datetime, horizon: datetime | None) -> Carry:
        """The carry after settling at `watermark`; `horizon` is `_horizon_after(watermark)`.

        While this run re-reads time the previous run already covered (watermark before the
        starting carry's), the starting carry stays valid: only fingerprints are updated. Past
        it, every session of the starting carry's window has been recomputed, so the window is
        exactly what this run knows: closed sessions ending at or after the horizon and the
        open ones.
        """
        start = self._start
        if horizon is None:
            assert start is not None  # noqa: S101 - _horizon_after is None only while re-reading
            return Carry(start.watermark, start.reread_from, dict(self._emitted), start.horizon)
        self._spans = {key: span for key, span in self._spans.items() if span[1] >= horizon}
        window = dict(self._spans)
        window.update((key, (started, ended)) for key, started, ended in self._open)
        self._emitted = {key: self._emitted[key] for key in window if key in self._emitted}
        reread_from = min((started for started, _ in window.values()), default=None)
        return Carry(watermark, reread_from, dict(self._emitted), horizon)
