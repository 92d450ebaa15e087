"""When target-lytics tries a request again, and how long it waits first.

Lytics documents no rate-limit headers; its guidance is to wait and retry on 429 and to retry
5xx with backoff. The client retries with `backoff.on_exception` (as tap-wistia does), and the
wait generator here is the policy: Lytics' `Retry-After` when an answer carries one (read by
`api_http.retry_after`), otherwise exponential backoff with full jitter, every wait capped.

The waits themselves happen in `Pauses`, not in backoff's `time.sleep`: a sleeping thread
cannot be woken, and two things must cut a wait short. The first failure of a batch stops the
batch's other requests (the run is going to stop, and its STATE will not pass their records), and
a signal gives the run a deadline: a retry that would start after it is not made.
"""

from __future__ import annotations

import random
import threading
import time
from typing import TYPE_CHECKING, Final

from target_lytics.errors import LyticsStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

#: The longest wait before a retry, whoever asks for it (backoff or `Retry-After`).
MAX_WAIT_SECONDS: Final = 60.0
"""Lytics documents no `Retry-After` and no cap: it says "wait and retry". A minute is the
backoff's own ceiling; a server asking for longer (an edge proxy's 99999, a date next year) is
not waited for: with `max_retries` such waits a batch's workers would be held for half an hour,
when failing the run now (its STATE not advanced) lets the next scheduled run send again."""
RETRY_AFTER_SPREAD_SECONDS: Final = 0.25
"""Added at random to a `Retry-After`, so the requests told to wait together do not all return
in the same instant."""

_RETRIABLE_STATUSES: Final = frozenset({408, 425, 429})


def is_retriable(status: int) -> bool:
    """Statuses Lytics (or its edge) uses for "not now": 408, 425, 429 and every 5xx."""
    return status in _RETRIABLE_STATUSES or status >= 500  # noqa: PLR2004


class RetryLaterError(Exception):
    """One try failed in a way worth another (429, 5xx, a timeout, a dropped connection).

    `retry_after` is the wait Lytics asked for (already capped), when it asked. `unsent` says
    Lytics surely did not act on the request (429, 408, 425, a refused connection); otherwise
    (a timeout, a 5xx, a reset) it may have, which matters for a write that must not be sent
    twice blindly.
    """

    def __init__(
        self, reason: str, retry_after: float | None = None, *, unsent: bool = False
    ) -> None:
        """Keep why the try failed, the wait Lytics asked for, and whether it went unsent."""
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unsent = unsent


class AbortedError(Exception):
    """Another request of the same batch failed, so this one stops retrying."""


def next_wait(
    attempt: int,
    failure: BaseException | None,
    *,
    base: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt + 1`.

    `Retry-After` when the failure carries one (plus a spread of up to 0.25 s); otherwise full
    jitter: a random time up to `base` times 2^attempt, so targets failing together spread out.
    Never more than `MAX_WAIT_SECONDS`.
    """
    asked = getattr(failure, "retry_after", None)
    if asked is not None:
        return min(float(asked), MAX_WAIT_SECONDS) + rand() * RETRY_AFTER_SPREAD_SECONDS
    return rand() * min(MAX_WAIT_SECONDS, base * 2.0**attempt)


class Pauses:
    """The waits between tries of one client, which a batch's failure or a stop cuts short.

    `stop_by(deadline)` (a signal arrived) wakes every wait: one that would end after the
    deadline ends now with `LyticsStoppedError`, so a run that cannot deliver in time says so
    at once instead of when the deadline passes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """No deadline until `stop_by`."""
        self._clock = clock
        self._changed = threading.Condition()
        self._deadline: float | None = None

    @property
    def deadline(self) -> float | None:
        """The `clock()` time by which a stopping run must be done, or None."""
        return self._deadline

    def stop_by(self, deadline: float) -> None:
        """From now on no wait, and no request, may end after `deadline`."""
        with self._changed:
            self._deadline = deadline if self._deadline is None else min(self._deadline, deadline)
            self._changed.notify_all()

    def wake(self) -> None:
        """Let every wait check its abort event again (a batch just failed)."""
        with self._changed:
            self._changed.notify_all()

    def time_left(self, wanted: float, what: str) -> float:
        """`wanted` seconds, or fewer if a stop's deadline comes first.

        Raises:
            LyticsStoppedError: the deadline has passed: `what` is not sent.
        """
        deadline = self._deadline
        if deadline is None:
            return wanted
        left = deadline - self._clock()
        if left <= 0:
            msg = f"the run was stopped before {what} could be sent"
            raise LyticsStoppedError(msg)
        return min(wanted, left)

    def pause(self, seconds: float, what: str, abort: threading.Event | None = None) -> None:
        """Wait `seconds` before the next try of `what`, unless its batch fails or a stop ends it.

        Raises:
            AbortedError: another request of the batch failed meanwhile.
            LyticsStoppedError: the wait would end after a stop's deadline.
        """
        end = self._clock() + seconds
        with self._changed:
            while True:
                if abort is not None and abort.is_set():
                    raise AbortedError
                if self._deadline is not None and end > self._deadline:
                    msg = f"the run was stopped while {what} waited {seconds:.1f} s for a retry"
                    raise LyticsStoppedError(msg)
                left = end - self._clock()
                if left <= 0:
                    return
                self._changed.wait(left)


def retry_waits(
    pauses: Pauses,
    *,
    base: float,
    what: str,
    abort: threading.Event | None,
    announce: Callable[[int, RetryLaterError, float], None],
) -> Generator[float, BaseException | None, None]:
    """The wait generator given to backoff for one request: it waits itself, hands backoff zero.

    backoff sends in each failure; the generator works out the wait (`next_wait`), announces
    the retry (a log line, a count) and waits in `pauses`, where a failed batch or a stop can
    end the wait early by raising. backoff's own `time.sleep` then has nothing left to wait.
    """
    attempt = 0
    failure = yield 0.0
    while True:
        delay = next_wait(attempt, failure, base=base)
        if isinstance(failure, RetryLaterError):
            announce(attempt, failure, delay)
        pauses.pause(delay, what, abort)
        attempt += 1
        failure = yield 0.0
