"""The ways the real Wistia API misbehaves, switchable at runtime, all off by default.

``Faults`` is the plain settings object (what tests and the admin API set); ``FaultState`` is the
thread-safe runtime that concurrent requests consume one-shot faults from, so "fail the next
three requests" means exactly three requests, whichever threads serve them.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["FAILURE_STATUSES", "FaultError", "FaultState", "Faults", "WireFault"]

FAILURE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""The statuses ``fail_next`` can inject: rate limiting and the server-side failures."""
EVENTS_ORDERS = ("newest_first", "oldest_first")
"""How the events endpoint orders its pages: observed newest first, undocumented."""


class FaultError(ValueError):
    """Fault settings that cannot be applied (unknown name, wrong type, unsupported status)."""


@dataclass
class Faults:
    """Fault settings; every field's default means "behave".

    ``fail_paths`` are path prefixes that the one-shot faults (``fail_next``, ``timeout_next``,
    ``reset_next``, ``truncate_next``, ``bad_json_next``) apply to; the default is the events
    endpoints of both APIs, ``["/v1/", "/modern/"]`` means any API endpoint, and a prefix may go
    on into the query string as the client sends it (``/v1/stats/visitors.json?page=2``).
    ``latency_ms`` applies to every API request.
    ``events_order``: Wistia is observed to page events newest first, which is undocumented;
    ``"oldest_first"`` serves the other order.
    """

    latency_ms: int = 0
    fail_next: list[int] = field(default_factory=list)
    fail_paths: list[str] = field(
        default_factory=lambda: ["/v1/stats/events", "/modern/stats/events"]
    )
    retry_after_seconds: int = 1
    timeout_next: int = 0
    timeout_seconds: float = 30.0
    reset_next: int = 0
    truncate_next: int = 0
    bad_json_next: int = 0
    page_drift: int = 0
    events_order: str = "newest_first"
    deleted_medias: list[str] = field(default_factory=list)
    late_updates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Settings from JSON-like data (the admin API's body); omitted names keep defaults.

        Raises:
            FaultError: a name is unknown or a value has the wrong type or range.
        """
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown fault setting(s) {unknown}; known: {sorted(known)}"
            raise FaultError(msg)
        faults = cls(**copy.deepcopy(dict(data)))
        faults.check()
        return faults

    def check(self) -> None:
        """Reject settings that would make the sandbox misbehave in ways Wistia does not.

        Raises:
            FaultError: naming the setting and what it accepts.
        """
        counts = ("latency_ms", "timeout_next", "reset_next", "truncate_next", "bad_json_next")
        for name in (*counts, "page_drift", "retry_after_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                msg = f"{name} must be a non-negative integer, got {value!r}"
                raise FaultError(msg)
        if not isinstance(self.timeout_seconds, (int, float)) or self.timeout_seconds < 0:
            msg = f"timeout_seconds must be a non-negative number, got {self.timeout_seconds!r}"
            raise FaultError(msg)
        _check_list(self.fail_next, "fail_next", int)
        bad = [status for status in self.fail_next if status not in FAILURE_STATUSES]
        if bad:
            msg = f"fail_next statuses must be among {sorted(FAILURE_STATUSES)}, got {bad}"
            raise FaultError(msg)
        if self.events_order not in EVENTS_ORDERS:
            msg = f"events_order must be one of {list(EVENTS_ORDERS)}, got {self.events_order!r}"
            raise FaultError(msg)
        _check_list(self.fail_paths, "fail_paths", str)
        _check_list(self.deleted_medias, "deleted_medias", str)
        if not isinstance(self.late_updates, dict) or not all(
            isinstance(key, str) and isinstance(value, (int, float))
            for key, value in self.late_updates.items()
        ):
            msg = "late_updates must map event_key strings to numbers (the later percent_viewed)"
            raise FaultError(msg)

    def to_mapping(self) -> dict[str, Any]:
        """The settings as JSON-ready data (what ``GET /_sandbox/faults`` shows)."""
        return asdict(self)


def _check_list(value: object, name: str, kind: type) -> None:
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        msg = f"{name} must be a list of {kind.__name__}, got {value!r}"
        raise FaultError(msg)


class WireFault(NamedTuple):
    """A one-shot fault one request must suffer: fail, timeout, reset, truncate or bad_json."""

    kind: str
    status: int = 0
    seconds: float = 0.0


class FaultState:
    """The faults in force, consumed safely by concurrent requests."""

    def __init__(self, faults: Faults | None = None) -> None:
        """Start from ``faults`` (checked) or from no faults at all."""
        self._lock = threading.Lock()
        self._faults = Faults()
        self._late_served: set[str] = set()
        self.generation = 0
        self.replace(faults or Faults())

    def replace(self, faults: Faults) -> None:
        """Put new settings in force; late updates already applied are forgotten.

        Raises:
            FaultError: the settings are invalid (nothing changes then).
        """
        faults.check()
        with self._lock:
            self._faults = copy.deepcopy(faults)
            self._late_served = set()
            self.generation += 1

    def snapshot(self) -> Faults:
        """A copy of the settings, with the one-shot counters as they are now."""
        with self._lock:
            return copy.deepcopy(self._faults)

    @property
    def latency_seconds(self) -> float:
        """How long every API request waits before it is answered."""
        return self._faults.latency_ms / 1000

    @property
    def page_drift(self) -> int:
        """How many live events to add after each events page."""
        return self._faults.page_drift

    @property
    def oldest_first(self) -> bool:
        """Whether the events endpoint pages oldest first (the ``events_order`` fault)."""
        return self._faults.events_order == "oldest_first"

    @property
    def retry_after_seconds(self) -> int:
        """The Retry-After that injected 429/503 answers carry."""
        return self._faults.retry_after_seconds

    def deleted_medias(self) -> frozenset[str]:
        """Hashed ids of medias to treat as deleted."""
        return frozenset(self._faults.deleted_medias)

    def take(self, path: str) -> WireFault | None:
        """The one-shot fault this request (path and query) suffers, if any (consuming it)."""
        with self._lock:
            faults = self._faults
            if not any(path.startswith(prefix) for prefix in faults.fail_paths):
                return None
            if faults.fail_next:
                return WireFault("fail", status=faults.fail_next.pop(0))
            if faults.timeout_next:
                faults.timeout_next -= 1
                return WireFault("timeout", seconds=faults.timeout_seconds)
            for kind in ("reset", "truncate", "bad_json"):
                name = f"{kind}_next"
                if getattr(faults, name):
                    setattr(faults, name, getattr(faults, name) - 1)
                    return WireFault(kind)
            return None

    def late_updates_due(
        self, served_keys: Iterable[str], generation: int
    ) -> list[tuple[str, float]]:
        """Late updates to apply now that these events were served (each only once).

        Only a request that began under the settings now in force counts (`generation`): one
        answered just before new settings arrived must not spend their late updates.
        """
        with self._lock:
            late = self._faults.late_updates
            if not late or generation != self.generation:
                return []
            due = [
                (key, late[key])
                for key in served_keys
                if key in late and key not in self._late_served
            ]
            self._late_served.update(key for key, _ in due)
            return due
