"""Wistia's aggregates computed from the account's own events, so the two can never disagree.

Wistia counts, per media and per day, what its viewing sessions did. The sandbox derives every
figure from the events it serves (one event is one viewing session), so a client can check its
sessions against the statistics (Σ of a media's time viewed against its `hours_watched`):

- `load_count`: events (each a load of the player); `play_count`: events with a
  `percent_viewed` above 0; `visitors`: distinct `visitor_key`s; `play_rate`: the share of
  those visitors with a play ("the percentage of visitors who clicked play");
- `hours_watched`: Σ `percent_viewed` times the media's `duration` / 3600 for medias that play
  (video, audio); a document's `duration` is a page count and an image has none, so they add 0;
- `engagement`: the mean `percent_viewed` of the plays; the curve `engagement_data` has one
  cell per second (1,000 cells at most, each then longer) counting the plays that reached it,
  each play watched from the start, and `rewatch_data` counts those of a visitor's plays after
  their first on the media;
- `actions`: the email gate (a "Turnstile"), shown at each play and taken by the events that
  carry an email;
- days: each event on its account-zone day (as the events endpoint's day filters).

`percent_viewed` counts clamped to 0..1; a value that is no number adds a load and nothing
else. Figures are computed from every event once per account version (a live change recomputes
them on the next request).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from tap_wistia.sandbox.viewing import parse_received_at

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_wistia.sandbox.account import Account

__all__ = ["DAILY_LISTINGS", "Statistics"]

DAILY_LISTINGS = ("every_day", "active_days")
"""How ``by_date`` lists days, undocumented either way: each day asked for (zeros included,
oldest first), or only the days with loads, newest first (Wistia's examples show both orders)."""
MAX_CELLS = 1000
"""Cells of an engagement curve: one per second, at most this many (each then covers more)."""
PLAYING_TYPES = frozenset({"Video", "Audio"})


@dataclass
class _Figures:
    """What one media (or the account, or one day) adds up to."""

    loads: int = 0
    plays: int = 0
    seconds: float = 0.0
    viewed: float = 0.0  # Σ percent_viewed of the plays
    gated: int = 0  # events that carry an email (the gate taken)
    visitors: set[str] = field(default_factory=set)
    players: set[str] = field(default_factory=set)  # visitors with a play
    engagement: list[int] = field(default_factory=list)
    rewatch: list[int] = field(default_factory=list)

    def day(self) -> dict[str, Any]:
        return {
            "load_count": self.loads,
            "play_count": self.plays,
            "hours_watched": self.seconds / 3600,
        }


class Statistics:
    """The account's aggregates, served by the statistics endpoints (thread-safe)."""

    def __init__(self, account: Account) -> None:
        """Compute nothing yet: the first request does, and a change makes the next one redo."""
        self._account = account
        self._lock = threading.Lock()
        self._version = -1
        self._medias: dict[str, _Figures] = {}
        self._days: dict[tuple[str | None, date], _Figures] = {}

    def known(self, media_id: str) -> bool:
        """Whether the media is one of the account's (a deleted one answers 404)."""
        return any(media.hashed_id == media_id for media in self._account.schedule.medias)

    def totals(self, media_id: str) -> dict[str, Any]:
        """``/stats/medias/{id}``."""
        figures = self._figures()[0].get(media_id) or _Figures()
        visitors = len(figures.visitors)
        return {
            "load_count": figures.loads,
            "play_count": figures.plays,
            "play_rate": len(figures.players) / visitors if visitors else 0.0,
            "hours_watched": figures.seconds / 3600,
            "engagement": figures.viewed / figures.plays if figures.plays else 0.0,
            "visitors": visitors,
            "actions": [
                {
                    "type": "Turnstile",
                    "action_count": figures.gated,
                    "impression_count": figures.plays,
                    "rate": figures.gated / figures.plays if figures.plays else 0.0,
                }
            ],
        }

    def curve(self, media_id: str) -> dict[str, Any]:
        """``/stats/medias/{id}/engagement``."""
        figures = self._figures()[0].get(media_id) or _Figures()
        return {
            "engagement": figures.viewed / figures.plays if figures.plays else 0.0,
            "engagement_data": list(figures.engagement) or [0] * _cells(self._duration(media_id)),
            "rewatch_data": list(figures.rewatch) or [0] * _cells(self._duration(media_id)),
        }

    def account_totals(self) -> dict[str, Any]:
        """``/stats/account``."""
        figures = _Figures()
        for media in self._figures()[0].values():
            figures.loads += media.loads
            figures.plays += media.plays
            figures.seconds += media.seconds
        return figures.day()

    def days(
        self, media_id: str | None, start: date, end: date, listing: str
    ) -> list[dict[str, Any]]:
        """``by_date`` of a media (None: the account) from ``start`` to ``end``, inclusive."""
        days = self._figures()[1]
        listed = []
        day = start
        while day <= end:
            figures = days.get((media_id, day))
            if figures is not None or listing == "every_day":
                listed.append({"date": day.isoformat(), **(figures or _Figures()).day()})
            day += timedelta(days=1)
        return listed if listing == "every_day" else listed[::-1]

    # ---- computing -------------------------------------------------------------------------

    def _figures(self) -> tuple[dict[str, _Figures], dict[tuple[str | None, date], _Figures]]:
        with self._lock:
            if self._version != self._account.version:
                self._version = self._account.version
                self._compute()
            return self._medias, self._days

    def _compute(self) -> None:
        account = self._account
        medias: dict[str, _Figures] = defaultdict(_Figures)
        days: dict[tuple[str | None, date], _Figures] = defaultdict(_Figures)
        types = self._media_types()
        seen_by: dict[str, set[str]] = defaultdict(set)  # media: visitors with a play so far
        for event in account.all_events():
            media_id = event.get("media_id")
            moment = parse_received_at(event.get("received_at"))
            if not isinstance(media_id, str) or moment is None:
                continue
            kind, duration = types.get(media_id, (None, None))
            seconds = duration if kind in PLAYING_TYPES and duration else 0.0
            percent = _percent(event.get("percent_viewed"))
            day = account.day_of(moment)
            visitor = event.get("visitor_key")
            for figures in (medias[media_id], days[media_id, day], days[None, day]):
                _count(figures, percent, seconds, event)
            totals = medias[media_id]
            if isinstance(visitor, str):
                totals.visitors.add(visitor)
                if percent:
                    totals.players.add(visitor)
            if percent and seconds:
                again = isinstance(visitor, str) and visitor in seen_by[media_id]
                _watch(totals, percent, _cells(seconds), again=again)
                if isinstance(visitor, str):
                    seen_by[media_id].add(visitor)
        for figures in medias.values():
            figures.engagement = _running(figures.engagement)
            figures.rewatch = _running(figures.rewatch)
        self._medias, self._days = dict(medias), dict(days)

    def _media_types(self) -> Mapping[str, tuple[str | None, float | None]]:
        """Type and duration of every media events name, deleted ones included."""
        schedule = self._account.schedule
        return {
            media.hashed_id: (media.api.get("type"), media.api.get("duration"))
            for media in (*schedule.medias, *schedule.ghosts)
        }

    def _duration(self, media_id: str) -> float:
        kind, duration = self._media_types().get(media_id, (None, None))
        return float(duration) if kind in PLAYING_TYPES and duration else 0.0


def _count(
    figures: _Figures, percent: float | None, seconds: float, event: Mapping[str, Any]
) -> None:
    figures.loads += 1
    if percent:
        figures.plays += 1
        figures.viewed += percent
        figures.seconds += percent * seconds
    email = event.get("email")
    figures.gated += isinstance(email, str) and bool(email.strip())


def _watch(figures: _Figures, percent: float, cells: int, *, again: bool) -> None:
    """Add a play watched from the start to `percent` of the media to its curves.

    The curves are held as differences (+1 where a play starts, -1 where it stops) while the
    events are counted, and summed up once at the end (`_running`).
    """
    if not figures.engagement:
        figures.engagement = [0] * (cells + 1)
        figures.rewatch = [0] * (cells + 1)
    reached = round(percent * cells)
    figures.engagement[0] += 1
    figures.engagement[reached] -= 1
    if again:
        figures.rewatch[0] += 1
        figures.rewatch[reached] -= 1


def _running(differences: list[int]) -> list[int]:
    """The curve whose differences these are (the last, past the end, dropped)."""
    total, curve = 0, []
    for step in differences[:-1]:
        total += step
        curve.append(total)
    return curve


def _cells(seconds: float) -> int:
    return min(math.ceil(seconds), MAX_CELLS) if seconds > 0 else 0


def _percent(value: object) -> float | None:
    """`percent_viewed` clamped to 0..1; None when it is no number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(float(value), 0.0), 1.0)
