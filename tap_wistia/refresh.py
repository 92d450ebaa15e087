"""When a run reads what Wistia cannot list "since the last run": statistics, captions, tags.

Wistia's aggregates (`/stats/medias/{id}`, its engagement and days) have no "changed since"
filter, and lists such as the visitors, the captions and the tags have no date filter at all.
Reading every media each hourly run would cost an account of 100,000 medias 100,000 requests
(nearly three hours of Wistia's 600 a minute) per stream. Two things bound it:

- **Medias that can have changed.** A media's statistics move only when it gets a viewing event,
  and the run reads every event received in its window (`MediaChanges`). So a run reads the
  statistics of the medias with events in that window, provided the window reaches back to
  where the last read of changes ended (`CHANGES_MARK`): the window starts at the events
  bookmark minus the lookback, so events received just before the last read, which Wistia may
  not have counted yet, are met again and their medias read again.
- **A full read at most every `refresh` hours** (`READ_MARK`, when the last complete read
  began): every media, which also catches what events cannot show (a media's actions, a late
  aggregate). It is the only read when the run knows no changes: the viewing streams are not
  selected, or their window starts after the last read of changes (a gap: the stream was
  deselected for a while), or a first run.

The state holds these two moments, not one per media: it stays two timestamps for an account
of 100,000 medias, and each record carries `read_at`, the moment its media was read. Marks move
only once a read finished: an interrupted read leaves them, and the next run reads again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_wistia.events import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Mapping

READ_MARK = "last_full_read_at"
"""The state key: when the last complete read of everything began (UTC)."""
CHANGES_MARK = "changes_read_until"
"""The state key: events received before this moment have had their medias read since."""


@dataclass(frozen=True)
class MediaChanges:
    """What the run's events tell: the medias with an event received in [since, until)."""

    since: dt.datetime
    until: dt.datetime
    medias: frozenset[str]


@dataclass(frozen=True)
class ReadPlan:
    """What one stream reads this run: everything, some medias, or nothing (and why)."""

    whole: bool
    medias: frozenset[str]
    reason: str
    knows_changes: bool = False  # a read of `medias` is all that can have changed

    @property
    def reads(self) -> bool:
        """Whether the run reads anything at all (else the marks stay as they are)."""
        return self.whole or self.knows_changes


def read_due(state: Mapping[str, Any], now: dt.datetime, refresh: dt.timedelta) -> bool:
    """Whether a run at `now` reads everything: never read whole, or read `refresh` ago."""
    last = parse_timestamp(state.get(READ_MARK))
    return last is None or now - last >= refresh


def mark_read(state: dict[str, Any], started: dt.datetime) -> None:
    """Record a complete read that began at `started` (call only once its last page is out)."""
    state[READ_MARK] = format_timestamp(started)


def plan_read(
    state: Mapping[str, Any],
    *,
    now: dt.datetime,
    refresh: dt.timedelta,
    changes: MediaChanges | None,
) -> ReadPlan:
    """Decide what a run at `now` reads, from the stream's state and the run's events."""
    if read_due(state, now, refresh):
        last = state.get(READ_MARK)
        why = f"its last full read began {last}" if last else "it was never read whole"
        return ReadPlan(whole=True, medias=frozenset(), reason=f"every media: {why}")
    due = f"the next full read is due {_due(state, refresh)} (stats_refresh_hours)"
    if changes is None:
        return ReadPlan(
            whole=False,
            medias=frozenset(),
            reason=(
                "no media: this run reads no events (wistia_events and wistia_activity are not "
                f"selected, or their import is over), so it cannot tell which changed; {due}"
            ),
        )
    known = parse_timestamp(state.get(CHANGES_MARK))
    if known is None or changes.since > known:
        return ReadPlan(
            whole=False,
            medias=frozenset(),
            reason=(
                f"no media: the events this run read begin at {format_timestamp(changes.since)}, "
                f"after the last read of changed medias ({state.get(CHANGES_MARK)}), so medias "
                f"that changed in between are unknown; {due}"
            ),
        )
    return ReadPlan(
        whole=False,
        medias=changes.medias,
        knows_changes=True,
        reason=(
            f"the {len(changes.medias):,} media(s) with events received from "
            f"{format_timestamp(changes.since)} to {format_timestamp(changes.until)}; {due}"
        ),
    )


def mark_done(
    state: dict[str, Any], plan: ReadPlan, *, now: dt.datetime, changes: MediaChanges | None
) -> None:
    """Move the marks once every read `plan` asked for has been written.

    A full read began at `now`: every media read since then shows what Wistia had counted by
    `now`. A read of changes covers the events up to the end of the window they came from.
    """
    if plan.whole:
        mark_read(state, now)
        state[CHANGES_MARK] = format_timestamp(now)
    elif plan.knows_changes and changes is not None:
        state[CHANGES_MARK] = format_timestamp(changes.until)


def _due(state: Mapping[str, Any], refresh: dt.timedelta) -> str:
    last = parse_timestamp(state.get(READ_MARK))
    return f"at {format_timestamp(last + refresh)}" if last is not None else "now"
