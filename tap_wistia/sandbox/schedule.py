"""When, who and what: an account's generated viewing sessions, one UTC day at a time.

Pure and lock-free: everything here is fixed by the spec, so a day can be generated on any thread
(or again, after its cache entry was evicted) and always comes out byte for byte the same.
"""

from __future__ import annotations

import bisect
import itertools
from datetime import date, timedelta
from typing import TYPE_CHECKING

from tap_wistia.sandbox.catalog import (
    Audience,
    MediaProfile,
    VisitorProfile,
    build_medias,
    ghost_medias,
    seeded,
)
from tap_wistia.sandbox.viewing import DAY_MS, EPOCH_ORDINAL, EventRow, SessionWriter, epoch_ms

if TYPE_CHECKING:
    from collections.abc import Sequence
    from random import Random

    from tap_wistia.sandbox.account import AccountSpec

__all__ = ["Schedule"]

HOURLY_RHYTHM: tuple[float, ...] = (
    0.55, 0.45, 0.35, 0.3, 0.3, 0.3, 0.35, 0.45, 0.6, 0.75, 0.85, 0.9,
    0.95, 1.0, 1.1, 1.2, 1.25, 1.2, 1.1, 1.0, 0.95, 0.85, 0.75, 0.65,
)  # fmt: skip
"""Relative activity per UTC hour: Europe by day, the Americas into the UTC evening."""
BURST_SIZES = (1, 2, 3, 4, 5, 6)
BURST_WEIGHTS = (30, 25, 18, 12, 8, 7)
"""How many sessions a visitor starts on one media within minutes of each other."""
GAP_SECONDS = (60, 1200)
"""Time between the sessions of a burst: a replay, a second tab, a come-back."""
FAVOURITE_SHARE = 0.75
"""How often a visitor watches one of their own favourite medias rather than any media."""
AWAY_SHARE = 0.1
"""How often a visitor watches from their second place (travel, phone) instead of home."""
ODD_SHARE = 0.01
WEEKEND_FACTOR = 0.65
SATURDAY = 5
_BURST_CUMULATIVE = list(itertools.accumulate(BURST_WEIGHTS))


def pick(rng: Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the weights whose running totals are ``cumulative``."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


class Schedule:
    """The cast of an account and the events it generates, per UTC day ("slot")."""

    def __init__(self, spec: AccountSpec) -> None:
        """Draw the medias and the audience, and apportion the events to UTC days."""
        self.spec = spec
        self.end_ms = epoch_ms(spec.end_at)
        self.start_ms = self.end_ms - spec.days * DAY_MS
        rng = seeded(spec.seed, "cast")
        before = spec.end_at - timedelta(days=spec.days)
        self.medias = build_medias(rng, spec.medias, before)
        self.ghosts = ghost_medias(rng, before)
        self._by_id = {media.hashed_id: media for media in (*self.medias, *self.ghosts)}
        weights = [media.popularity for media in self.medias]
        self._media_cumulative = list(itertools.accumulate(weights))
        window = (self.start_ms, self.end_ms)
        self.audience = Audience(spec.seed, spec.visitors, weights, window, spec.conversion_rate)
        self.heatmap_token = f"{seeded(spec.seed, 'heatmap').getrandbits(128):032x}"
        self._writer = SessionWriter(self.ghosts, self.heatmap_token)
        self._odd_share = ODD_SHARE if spec.odd_events else 0.0
        self.counts = self._apportion()

    def media(self, hashed_id: str) -> MediaProfile | None:
        """A media of the account, or a deleted one that old events still name."""
        return self._by_id.get(hashed_id)

    def pick_media(self, rng: Random, visitor: VisitorProfile) -> MediaProfile:
        """Mostly one of the visitor's favourites, otherwise any media by popularity."""
        if visitor.favourites and rng.random() < FAVOURITE_SHARE:
            return self.medias[visitor.favourites[int(rng.random() * len(visitor.favourites))]]
        return self.medias[pick(rng, self._media_cumulative)]

    def session(
        self, rng: Random, at_ms: int, visitor: VisitorProfile, media: MediaProfile
    ) -> EventRow:
        """One realistic session at a given moment (live events: drift, tests)."""
        (row,) = self._writer.burst(rng, [at_ms], visitor, media)
        return row

    # ---- the generated days -----------------------------------------------------------------

    def _window(self, slot: date) -> tuple[int, int]:
        """The seconds [lo, hi) of a UTC day that lie inside the account's range."""
        midnight = (slot.toordinal() - EPOCH_ORDINAL) * 86_400
        return (
            max(self.start_ms // 1000, midnight),
            min(self.end_ms // 1000 + 1, midnight + 86_400),
        )

    def _hours(self, slot: date) -> tuple[list[tuple[int, int]], list[float]]:
        """The slot's hours (clipped to its window) and their cumulative activity."""
        lo, hi = self._window(slot)
        hours: list[tuple[int, int]] = []
        weights: list[float] = []
        for hour in range(lo // 3600, (hi - 1) // 3600 + 1):
            start, stop = max(lo, hour * 3600), min(hi, hour * 3600 + 3600)
            if stop > start:
                hours.append((start, stop))
                weights.append(HOURLY_RHYTHM[hour % 24] * (stop - start))
        return hours, list(itertools.accumulate(weights))

    def _apportion(self) -> dict[date, int]:
        """Split ``events`` over the UTC days by rhythm, weekend and a daily mood; sums exactly."""
        first = date.fromordinal(EPOCH_ORDINAL + self.start_ms // DAY_MS)
        last = date.fromordinal(EPOCH_ORDINAL + self.end_ms // DAY_MS)
        weights: dict[date, float] = {}
        for offset in range((last - first).days + 1):
            slot = first + timedelta(days=offset)
            _, cumulative = self._hours(slot)
            mood = seeded(self.spec.seed, "mood", slot.isoformat()).uniform(0.8, 1.2)
            weekend = WEEKEND_FACTOR if slot.weekday() >= SATURDAY else 1.0
            weights[slot] = (cumulative[-1] if cumulative else 0.0) * weekend * mood
        total = sum(weights.values()) or 1.0
        shares = {slot: self.spec.events * weight / total for slot, weight in weights.items()}
        counts = {slot: int(share) for slot, share in shares.items()}
        leftover = self.spec.events - sum(counts.values())
        for slot in sorted(shares, key=lambda slot: (counts[slot] - shares[slot], slot))[:leftover]:
            counts[slot] += 1
        return counts

    def generate(self, slot: date) -> list[EventRow]:
        """The events of one UTC day from that day's own seed; bursts may spill past midnight."""
        count = self.counts.get(slot, 0)
        if count == 0:
            return []
        rng = seeded(self.spec.seed, "day", slot.isoformat())
        hours, cumulative = self._hours(slot)
        rows: list[EventRow] = []
        while len(rows) < count:
            size = min(count - len(rows), BURST_SIZES[pick(rng, _BURST_CUMULATIVE)])
            rows.extend(self._burst(rng, hours[pick(rng, cumulative)], size))
        return rows

    def _burst(self, rng: Random, hour: tuple[int, int], size: int) -> list[EventRow]:
        """A visitor's few sessions on one media, minutes apart, never after the account's end."""
        visitor = self.audience.pick(rng)
        media = self.pick_media(rng, visitor)
        away = rng.random() < AWAY_SHARE
        start, stop = hour
        moment = start + int(rng.random() * (stop - start))
        moments = [moment]
        shortest, longest = GAP_SECONDS
        for _ in range(size - 1):
            moment += shortest + int(rng.random() * (longest - shortest + 1))
            moments.append(moment)
        overflow = moments[-1] - self.end_ms // 1000
        if overflow > 0:
            overflow += int(rng.random() * longest)
            moments = [max(self.start_ms // 1000, second - overflow) for second in moments]
        return self._writer.burst(
            rng,
            [second * 1000 for second in moments],
            visitor,
            media,
            away=away,
            odd_share=self._odd_share,
        )
