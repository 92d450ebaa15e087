"""Wistia's per-account rate limit: a sliding window shared by every token of the account."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

__all__ = ["RateLimiter"]


class RateLimiter:
    """Admits at most ``per_minute`` requests in any sliding window of ``window_seconds``.

    Rejected requests do not use up the budget, as with Wistia: a client that keeps retrying
    too early is not punished beyond waiting for the oldest admitted request to age out.
    """

    def __init__(self, per_minute: int | None, window_seconds: float = 60.0) -> None:
        """``per_minute=None`` (or 0) admits everything."""
        self._lock = threading.Lock()
        self._window = window_seconds
        self._admitted: deque[float] = deque()
        self.per_minute = per_minute or None

    def configure(self, per_minute: int | None) -> None:
        """Change the limit and start a fresh window."""
        with self._lock:
            self.per_minute = per_minute or None
            self._admitted.clear()

    def admit(self) -> int | None:
        """None when the request may proceed, else whole seconds (≥ 1) until a slot frees."""
        if self.per_minute is None:
            return None
        now = time.monotonic()
        with self._lock:
            horizon = now - self._window
            while self._admitted and self._admitted[0] <= horizon:
                self._admitted.popleft()
            if len(self._admitted) < self.per_minute:
                self._admitted.append(now)
                return None
            return max(1, math.ceil(self._admitted[0] - horizon))
