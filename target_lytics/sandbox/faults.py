"""Failures the sandbox can inject, so a loader's retries and refusals can be proven over HTTP.

Off by default. Switchable at runtime from Python (``LyticsSandbox.faults``) or over HTTP
(``POST /_sandbox/faults`` with the same fields as JSON). Counted faults are used up by the
requests they hit, in this order: reset, timeout, failure status; ``reject_next`` applies to
collect requests that succeed. ``reject_where`` is not used up: it makes the sandbox reject every
record holding the given values, dry runs included, as Lytics' own validation would. By default
only collect requests draw faults, so a loader's token check at start does not use up a fault a
test meant for its uploads (``scope="api"`` extends them to every authenticated endpoint).
``latency_ms`` delays every API request.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

Scope = Literal["collect", "api"]
FIRST_ERROR_STATUS, LAST_ERROR_STATUS = 400, 599
Action = Literal["serve", "fail", "timeout", "reset"]


@dataclass
class Faults:
    """Fault settings; mutate them freely, the sandbox reads them under its own lock.

    Attributes:
        latency_ms: Delay before answering each API request (simulates a distant API).
        fail_next: Statuses the next requests answer with, one per request (e.g. [429, 503]).
        retry_after: Seconds sent as ``Retry-After`` on an injected 429 (Lytics documents none).
        reject_next: How many collect requests answer 200 but reject records.
        reject_count: How many records each of those requests rejects (not stored).
        timeout_next: How many requests hang ``timeout_seconds`` and then drop the connection
            unanswered (nothing is stored).
        timeout_seconds: How long a timed-out request hangs.
        reset_next: How many requests have their connection reset (nothing is stored).
        reject_where: Field path -> value: every collected record holding all of these values
            (a dotted path reads nested objects) is rejected, in dry runs too, for as long as
            the setting stays (e.g. ``{"visitor_key": "vk-bad"}``).
        scope: ``collect``: counted faults hit collect requests only; ``api``: every
            authenticated endpoint.
    """

    latency_ms: float = 0
    fail_next: list[int] = field(default_factory=list)
    retry_after: float | None = None
    reject_next: int = 0
    reject_count: int = 0
    timeout_next: int = 0
    timeout_seconds: float = 10.0
    reset_next: int = 0
    reject_where: dict[str, Any] = field(default_factory=dict)
    scope: Scope = "collect"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from the admin API's JSON, refusing unknown fields and wrong types by name."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown fault setting(s) {unknown}; known: {sorted(known)}"
            raise ValueError(msg)
        faults = cls(**data)
        faults.validate()
        return faults

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        for name in ("reject_next", "reject_count", "timeout_next", "reset_next"):
            _require(name, getattr(self, name), _is_int, "a whole number >= 0")
        for name in ("latency_ms", "timeout_seconds"):
            _require(name, getattr(self, name), _is_number, "a number >= 0")
        if self.retry_after is not None:
            _require("retry_after", self.retry_after, _is_number, "a number >= 0 or null")
        if not isinstance(self.fail_next, list) or not all(map(_is_error_status, self.fail_next)):
            msg = (
                "fault setting 'fail_next' must be a list of HTTP error statuses (400-599),"
                f" got {self.fail_next!r}"
            )
            raise ValueError(msg)
        if not isinstance(self.reject_where, dict) or not all(
            isinstance(value, str | int | float | bool) for value in self.reject_where.values()
        ):
            msg = (
                "fault setting 'reject_where' must be an object of field path -> JSON scalar, "
                f"got {self.reject_where!r}"
            )
            raise ValueError(msg)
        if self.scope not in get_args(Scope):
            msg = f"fault setting 'scope' must be one of {get_args(Scope)}, got {self.scope!r}"
            raise ValueError(msg)

    def to_json(self) -> dict[str, Any]:
        """The settings as the admin API shows them."""
        return asdict(self)


def _require(name: str, value: Any, check: Callable[[Any], bool], wanted: str) -> None:
    if not check(value) or value < 0:
        msg = f"fault setting {name!r} must be {wanted}, got {value!r}"
        raise ValueError(msg)


def _is_error_status(value: Any) -> bool:
    return _is_int(value) and FIRST_ERROR_STATUS <= value <= LAST_ERROR_STATUS


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Decision(NamedTuple):
    """What one request gets: a delay, then to be served, failed, hung or reset."""

    latency_s: float
    action: Action
    status: int = 0
    retry_after: float | None = None
    timeout_s: float = 0.0


class FaultDesk:
    """Hands out faults to requests one at a time, so concurrent requests never share one."""

    def __init__(self, faults: Faults | None = None) -> None:
        """Start with ``faults`` (or none)."""
        self._lock = threading.Lock()
        self.faults = faults or Faults()

    def replace(self, faults: Faults) -> None:
        """Swap in new settings (the admin API's POST)."""
        faults.validate()
        with self._lock:
            self.faults = faults

    def decide(self, *, collect: bool) -> Decision:
        """Use up the fault, if any, that the next request of this kind gets."""
        with self._lock:
            faults = self.faults
            latency = faults.latency_ms / 1000
            if not collect and faults.scope == "collect":
                return Decision(latency, "serve")
            if faults.reset_next > 0:
                faults.reset_next -= 1
                return Decision(latency, "reset")
            if faults.timeout_next > 0:
                faults.timeout_next -= 1
                return Decision(latency, "timeout", timeout_s=faults.timeout_seconds)
            if faults.fail_next:
                status = faults.fail_next.pop(0)
                return Decision(latency, "fail", status, faults.retry_after)
            return Decision(latency, "serve")

    def refuses(self, record: Mapping[str, Any]) -> bool:
        """Whether ``reject_where`` rejects this record (it holds every value given)."""
        wanted = self.faults.reject_where
        return bool(wanted) and all(
            _value_at(record, path) == value for path, value in wanted.items()
        )

    def rejections(self) -> int:
        """How many records the current collect request must reject (uses up one)."""
        with self._lock:
            faults = self.faults
            if faults.reject_next <= 0:
                return 0
            faults.reject_next -= 1
            return faults.reject_count


def _value_at(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
