"""What the sandbox has been asked, for tests and benchmarks to check (``GET /_sandbox/stats``)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

from sandbox_http.concurrency import InFlight

__all__ = ["Traffic"]

RATE_LIMITED_KEPT = 1000
"""How many rate-limit timestamps are kept (the newest), so a long benchmark stays small."""


class Traffic:
    """Thread-safe counters of API requests (admin requests are not counted)."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        self._lock = threading.Lock()
        self.in_flight = InFlight()
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (``POST /_sandbox/reset-stats``)."""
        with self._lock:
            self._requests = 0
            self._by_path: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._by_release: Counter[str] = Counter()
            self._rate_limited_at: deque[float] = deque(maxlen=RATE_LIMITED_KEPT)
            self._rate_limited = 0
            self._first: float | None = None
            self._last: float | None = None
            self.in_flight.reset()
            self._events_served = 0
            self._bytes_sent = 0

    def record(  # noqa: PLR0913 - the facts of one answered request, all keyword-only
        self,
        route: str,
        status: str,
        *,
        rate_limited: bool = False,
        events: int = 0,
        size: int = 0,
        release: str | None = None,
    ) -> None:
        """Count one answered (or deliberately dropped) request.

        ``rate_limited`` marks answers of the rate limiter itself (not injected 429s), so a
        benchmark can prove a client stayed under the limit while faults were being injected.
        ``release`` is the ``X-Wistia-Api-Version`` a current-API request carried ("" for none).
        """
        now = time.time()
        with self._lock:
            self._requests += 1
            self._by_path[route] += 1
            self._by_status[status] += 1
            self._events_served += events
            self._bytes_sent += size
            if release is not None:
                self._by_release[release] += 1
            if self._first is None:
                self._first = now
            self._last = now
            if rate_limited:
                self._rate_limited += 1
                self._rate_limited_at.append(now)

    def snapshot(self) -> dict[str, Any]:
        """All counters as JSON-ready data; timestamps are epoch seconds."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_path": dict(self._by_path),
                "by_status": dict(self._by_status),
                "by_release": dict(self._by_release),
                "rate_limited": self._rate_limited,
                "rate_limited_at": list(self._rate_limited_at),
                "first_request_at": self._first,
                "last_request_at": self._last,
                "in_flight": self.in_flight.now,
                "max_in_flight": self.in_flight.most,
                "events_served": self._events_served,
                "bytes_sent": self._bytes_sent,
            }
