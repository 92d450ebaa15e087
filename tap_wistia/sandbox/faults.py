"""The ways the real Wistia API misbehaves, switchable at runtime, all off by default.

``Faults`` is the plain settings object (what tests and the admin API set); ``FaultState`` is the
thread-safe runtime that concurrent requests consume one-shot faults from, so "fail the next
three requests" means exactly three requests, whichever threads serve them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from sandbox_http.faults import Count, FaultError, Seconds, WireFaults
from tap_wistia.sandbox.api import MEDIA, STATS
from tap_wistia.sandbox.days import EVENTS_ORDERS
from tap_wistia.sandbox.statistics import DAILY_LISTINGS

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["FAILURE_STATUSES", "FaultError", "FaultState", "Faults", "WireFault"]

FAILURE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""The statuses ``fail_next`` can inject: rate limiting and the server-side failures."""
END_DATE_READINGS = ("inclusive", "exclusive")
"""How ``end_date`` bounds the events listing: Wistia's spec says "End date", nothing more."""
ARCHIVED_LISTINGS = ("active", "all")
"""What ``/medias`` lists without ``archived``: its spec documents only true and false."""
PLAN_FEATURES = (STATS, MEDIA)
"""What ``plan_lacks`` can take away: the stats endpoints or the media endpoints."""


class Faults(WireFaults, kw_only=True, forbid_unknown_fields=True):
    """Wistia's fault settings: the shared wire faults (`WireFaults`) and Wistia's own.

    ``fail_paths`` are path prefixes that the one-shot faults (``fail_next``, ``timeout_next``,
    ``reset_next``, ``truncate_next``, ``bad_json_next``) apply to; the default is the events
    endpoints of both APIs, ``["/v1/", "/modern/"]`` means any API endpoint, and a prefix may go
    on into the query string as the client sends it (``/v1/stats/visitors.json?page=2``).
    ``retry_after_seconds`` defaults to 1, as Wistia's own 429s say. ``events_order``: Wistia is
    observed to page events newest first, which is undocumented; ``"oldest_first"`` and
    ``"shuffled"`` (each day in a stable pseudo-random order) serve the others. ``page_drift``
    adds that many live events after each events page; ``deleted_medias`` answers 404 for those
    medias; ``late_updates`` raises an event's percent_viewed once it has been served.

    Undocumented readings, each served both ways: ``end_date_reading`` (``"exclusive"``: a
    listing stops before its ``end_date``), ``archived_listing`` (``"all"``: ``/medias``
    without ``archived`` lists archived medias too; by default only active ones, the reading
    that loses durations). Pages that move and never end: ``delete_while_paging`` deletes that
    many events of a day past (the first ones of the page just served) after each page of it,
    so the later pages move up; ``insert_while_paging`` adds that many to it (newer than the
    rest of that day), so they move down; ``endless_day`` serves the newest day full pages of
    new events past its end, for ever. ``plan_lacks`` answers 403 for the stats or media
    endpoints, as an account whose plan lacks the feature. ``daily_listing``: which days a
    ``by_date`` answer lists, undocumented (``"every_day"`` asked for, oldest first, or
    ``"active_days"``, only those with loads, newest first).
    """

    fail_paths: list[str] = msgspec.field(
        default_factory=lambda: ["/v1/stats/events", "/modern/stats/events"]
    )
    retry_after_seconds: Seconds | None = 1
    truncate_next: Count = 0
    bad_json_next: Count = 0
    page_drift: Count = 0
    events_order: str = "newest_first"
    deleted_medias: list[str] = msgspec.field(default_factory=list)
    late_updates: dict[str, float] = msgspec.field(default_factory=dict)
    end_date_reading: str = "inclusive"
    archived_listing: str = "active"
    delete_while_paging: Count = 0
    insert_while_paging: Count = 0
    endless_day: bool = False
    plan_lacks: list[str] = msgspec.field(default_factory=list)
    daily_listing: str = "every_day"

    def check(self) -> None:
        """Reject settings that would make the sandbox misbehave in ways Wistia does not.

        Raises:
            FaultError: naming the setting and what it accepts.
        """
        bad = [status for status in self.fail_next if status not in FAILURE_STATUSES]
        if bad:
            msg = f"fail_next statuses must be among {sorted(FAILURE_STATUSES)}, got {bad}"
            raise FaultError(msg)
        for name, allowed in (
            ("events_order", EVENTS_ORDERS),
            ("end_date_reading", END_DATE_READINGS),
            ("archived_listing", ARCHIVED_LISTINGS),
            ("daily_listing", DAILY_LISTINGS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                msg = f"{name} must be one of {list(allowed)}, got {value!r}"
                raise FaultError(msg)
        unknown = [feature for feature in self.plan_lacks if feature not in PLAN_FEATURES]
        if unknown:
            msg = f"plan_lacks takes {list(PLAN_FEATURES)}, got {unknown}"
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
            self._faults = faults.copy()
            self._late_served = set()
            self.generation += 1

    def snapshot(self) -> Faults:
        """A copy of the settings, with the one-shot counters as they are now."""
        with self._lock:
            return self._faults.copy()

    @property
    def latency_seconds(self) -> float:
        """How long every API request waits before it is answered."""
        return self._faults.latency_ms / 1000

    @property
    def page_drift(self) -> int:
        """How many live events to add after each events page."""
        return self._faults.page_drift

    @property
    def events_order(self) -> str:
        """How the events endpoint orders a day (one of ``EVENTS_ORDERS``)."""
        return self._faults.events_order

    @property
    def exclusive_end(self) -> bool:
        """Whether a listing stops before its ``end_date`` (``end_date_reading``)."""
        return self._faults.end_date_reading == "exclusive"

    @property
    def lists_archived(self) -> bool:
        """Whether ``/medias`` without ``archived`` lists archived medias too."""
        return self._faults.archived_listing == "all"

    @property
    def endless_day(self) -> bool:
        """Whether the newest day's pages never end."""
        return self._faults.endless_day

    @property
    def daily_listing(self) -> str:
        """Which days ``by_date`` lists (one of ``DAILY_LISTINGS``)."""
        return self._faults.daily_listing

    def while_paging(self) -> tuple[int, int]:
        """Events to delete from, and to add to, a day past after each of its pages."""
        faults = self._faults
        return faults.delete_while_paging, faults.insert_while_paging

    def plan_lacks(self, feature: str) -> bool:
        """Whether the account's plan lacks ``feature`` (``"stats"`` or ``"media"``)."""
        return feature in self._faults.plan_lacks

    @property
    def retry_after_seconds(self) -> float | None:
        """The Retry-After that injected 429/503 answers carry (None: no header)."""
        return self._faults.retry_after_seconds

    def deleted_medias(self) -> frozenset[str]:
        """Hashed ids of medias to treat as deleted."""
        return frozenset(self._faults.deleted_medias)

    def take(self, path: str) -> WireFault | None:
        """The one-shot fault this request (path and query) suffers, if any (consuming it)."""
        with self._lock:
            faults = self._faults
            if not faults.hits(path):
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
