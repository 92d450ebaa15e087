"""How many requests a sandbox is answering at once: a client's real concurrency.

Both sandboxes report it in their stats (Wistia: parallel paging; Lytics: collect requests in
flight), counted while the app answers, not while the shell writes the answer, so a client
that waits for each answer before sending the next never looks more concurrent than it is.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator


class InFlight:
    """Requests being answered now (`now`) and the most at once since the last reset (`most`)."""

    def __init__(self) -> None:
        """Nothing in flight yet."""
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Count one request in flight for the duration, however it ends."""
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            yield
        finally:
            with self._lock:
                self.now -= 1

    def reset(self) -> None:
        """Forget the most so far; requests in flight stay counted until they end."""
        with self._lock:
            self.most = 0
