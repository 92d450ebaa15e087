"""What the loader sent and how the sandbox answered, for tests and people (``/_sandbox/stats``)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sandbox_http.concurrency import InFlight


class Stats:
    """Counters for tests and people: what the loader sent and how the sandbox answered."""

    def __init__(self) -> None:
        """Start at zero."""
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._by_status: Counter[str] = Counter()
        self._rejected_by_reason: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._max_body_bytes = 0
        self.in_flight = InFlight()

    def reset(self) -> None:
        """Back to zero (``POST /_sandbox/reset-stats``)."""
        with self._lock:
            for counter in (self._counts, self._by_status, self._rejected_by_reason, self._faults):
                counter.clear()
            self._max_body_bytes = 0
            self.in_flight.reset()

    def count(self, **counts: int) -> None:
        """Add to named counters."""
        with self._lock:
            self._counts.update(counts)

    def answered(self, outcome: int | str, body_size: int) -> None:
        """Record one API request's outcome (a status, or ``reset``/``timeout``)."""
        with self._lock:
            self._counts["requests"] += 1
            self._by_status[str(outcome)] += 1
            self._max_body_bytes = max(self._max_body_bytes, body_size)

    def rejected(self, reasons: Counter[str]) -> None:
        """Record rejected records by reason."""
        with self._lock:
            self._counts["rejected"] += sum(reasons.values())
            self._rejected_by_reason.update(reasons)

    def fault(self, kind: str) -> None:
        """Record one injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as ``GET /_sandbox/stats`` shows them."""
        names = ("requests", "collect_requests", "records_received", "records_stored")
        more = (
            "rejected",
            "legacy_query_token",
            "account_id_queries",
            "dryrun_requests",
            "schema_requests",
            "schema_writes",
        )
        with self._lock:
            shown: dict[str, Any] = {name: self._counts[name] for name in names}
            shown["by_status"] = dict(sorted(self._by_status.items()))
            shown |= {name: self._counts[name] for name in more}
            shown["max_body_bytes"] = self._max_body_bytes
            shown["max_requests_in_flight"] = self.in_flight.most
            shown["rejected_by_reason"] = dict(sorted(self._rejected_by_reason.items()))
            shown["faults_injected"] = dict(sorted(self._faults.items()))
            return shown
