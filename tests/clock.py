"""Pinned moments for tests: what a run reads must not depend on when the suite runs.

A generated account ends at a fixed moment, and a test that runs the tap in this process moves
the clock (with ``time_machine``, ticking) to just after that end, so the tap's "now", the
sandbox's live edge and the test's own expectations agree, whatever the hour. The three ends are
the hours where a day boundary has bitten: just after midnight UTC (the newest day holds a few
minutes), midday, and just before midnight (the oldest day holds a few minutes).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Final

import time_machine

if TYPE_CHECKING:
    from collections.abc import Iterator

_DAY = dt.date(2026, 3, 10)
ENDS: Final[dict[str, dt.datetime]] = {
    "after-midnight": dt.datetime.combine(_DAY, dt.time(0, 5), dt.UTC),
    "midday": dt.datetime.combine(_DAY, dt.time(12, 0), dt.UTC),
    "before-midnight": dt.datetime.combine(_DAY, dt.time(23, 55), dt.UTC),
}
END: Final = ENDS["midday"]
#: How long after its account's end a pinned run starts.
RUN_DELAY: Final = dt.timedelta(minutes=2)


@contextlib.contextmanager
def clock_at(moment: dt.datetime) -> Iterator[None]:
    """Move this process's clock to ``moment``; it keeps ticking from there.

    The local zone (``TZ``) stays as it is: the tap must not depend on it.
    """
    with time_machine.travel(moment.timestamp(), tick=True):
        yield


def run_moment(end: dt.datetime) -> dt.datetime:
    """When a pinned run over an account ending at ``end`` starts."""
    return end + RUN_DELAY
