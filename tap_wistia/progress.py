"""Progress of a long run, logged at a steady pace: a backfill at Wistia's limit takes hours.

A line goes out after each day read and at least every `every` seconds while pages are read:
days read of days planned, events read, viewing sessions written, the requests of the last
minute against the budget, rate-limit answers, and an estimate of the time left (from the pace
of the days read so far, so it settles after a few days).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt
    import logging
    from collections.abc import Callable

    from tap_wistia.client import WistiaClient


def duration_words(seconds: float) -> str:
    """'2 h 05 min', '7 min', 'under a minute'."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


class Progress:
    """Counts a run's days and logs a progress line when one is due."""

    def __init__(
        self,
        logger: logging.Logger,
        client: WistiaClient,
        *,
        days_planned: int,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start the clock; nothing is logged before the first page or day."""
        self._logger = logger
        self._client = client
        self._days_planned = days_planned
        self._every = every
        self._clock = clock
        self._started = clock()
        self._last_line = self._started
        self.days_done = 0

    def page(self, events_read: int, sessions_written: int) -> None:
        """A page was read: log if the last line is `every` seconds old."""
        if self._clock() - self._last_line >= self._every:
            self._log(None, events_read, sessions_written)

    def day_done(self, day: dt.date, events_read: int, sessions_written: int) -> None:
        """Every page of `day` was read and written: log it."""
        self.days_done += 1
        self._log(day, events_read, sessions_written)

    def _log(self, day: dt.date | None, events_read: int, sessions_written: int) -> None:
        now = self._clock()
        self._last_line = now
        elapsed = now - self._started
        budget = self._client.budget
        stats = self._client.stats
        left = self._days_planned - self.days_done
        if self.days_done and left > 0:
            eta = f", about {duration_words(elapsed / self.days_done * left)} left"
        elif left <= 0:
            eta = ""
        else:
            eta = ", time left not known before the first day is read"
        self._logger.info(
            "Progress: %d of %d days read%s, %s events read, %s viewing sessions written, "
            "%d requests in the last minute of the %d allowed, %d rate-limited answers%s",
            self.days_done,
            self._days_planned,
            f" ({day.isoformat()} done)" if day else "",
            f"{events_read:,}",
            f"{sessions_written:,}",
            budget.sent_last_minute(),
            budget.per_minute,
            stats.rate_limited,
            eta,
        )
