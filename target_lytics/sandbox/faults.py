"""Failures the sandbox can inject, so a loader's retries and refusals can be proven over HTTP.

Off by default. Switchable at runtime from Python (``LyticsSandbox.faults``) or over HTTP
(``POST /_sandbox/faults`` with the same fields as JSON). The wire faults are the ones both
sandboxes share, by the same names (``sandbox_http.faults.WireFaults``). Counted faults are used
up by the requests they hit, in this order: reset, timeout, failure status, lost answer
(``lose_answer_next``: the request is done, its answer never arrives); ``reject_next``
applies to collect requests that succeed. ``reject_where`` is not used up: it makes the sandbox
reject every record holding the given values, dry runs included, as Lytics' own validation
would. By default only collect requests draw the counted faults (``fail_paths``), so a loader's
token check at start does not use up a fault a test meant for its uploads (``["/"]`` extends
them to every API request). ``latency_ms`` delays every API request.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from sandbox_http.faults import Count, FaultError, Seconds, WireFaults

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["COLLECT_PATH", "Decision", "FaultDesk", "FaultError", "Faults"]

COLLECT_PATH = "/collect/json"
"""Where the counted faults hit by default: the collect API, the loader's uploads."""
Action = Literal["serve", "fail", "timeout", "reset", "lose"]
LostAnswer = Literal["reset", "timeout", "503"]
Scalar = str | int | float | bool


class Faults(WireFaults, kw_only=True, forbid_unknown_fields=True):
    """Lytics' fault settings: the shared wire faults (`WireFaults`) and Lytics' own.

    Mutate them freely; the sandbox reads them under its own lock. ``fail_paths`` defaults to
    the collect API; ``retry_after_seconds`` to none (Lytics documents no ``Retry-After``); a
    timed-out request hangs ``timeout_seconds`` (default 10) and then the connection is dropped
    unanswered, nothing stored.

    - ``reject_next``: how many collect requests answer 200 but reject records.
    - ``reject_count``: how many records each of those requests rejects (not stored).
    - ``reject_where``: field path -> value: every collected record holding all of these
      values (a dotted path reads nested objects) is rejected, in dry runs too, for as long as
      the setting stays (e.g. ``{"visitor_key": "vk-bad"}``).
    - ``lose_answer_next``: how many writes (any method but GET) are done (a field created,
      records stored) and then not answered, as when a gateway times out after the API acted;
      ``lose_answer_with`` says how: ``reset`` (the connection reset), ``timeout`` (no answer
      for ``timeout_seconds``, then dropped) or ``503`` (an edge error in place of the answer).
    """

    fail_paths: list[str] = msgspec.field(default_factory=lambda: [COLLECT_PATH])
    timeout_seconds: Seconds = 10.0
    reject_next: Count = 0
    reject_count: Count = 0
    reject_where: dict[str, Scalar] = msgspec.field(default_factory=dict)
    lose_answer_next: Count = 0
    lose_answer_with: LostAnswer = "reset"


class Decision(NamedTuple):
    """What one request gets: a delay, then to be served, failed, hung or reset."""

    latency_s: float
    action: Action
    status: int = 0
    retry_after_seconds: float | None = None
    timeout_s: float = 0.0
    lost_as: LostAnswer = "reset"


class FaultDesk:
    """Hands out faults to requests one at a time, so concurrent requests never share one."""

    def __init__(self, faults: Faults | None = None) -> None:
        """Start with ``faults`` (or none)."""
        self._lock = threading.Lock()
        self.faults = Faults()
        self.replace(faults or Faults())

    def replace(self, faults: Faults) -> None:
        """Swap in new settings (the admin API's POST).

        Raises:
            FaultError: the settings are invalid (nothing changes then).
        """
        checked = Faults.from_mapping(faults.to_mapping())
        with self._lock:
            self.faults = checked

    def decide(self, target: str, method: str = "GET") -> Decision:
        """Use up the fault, if any, that this request (path and query as sent) gets."""
        with self._lock:
            faults = self.faults
            latency = faults.latency_ms / 1000
            if not faults.hits(target):
                return Decision(latency, "serve")
            if faults.reset_next > 0:
                faults.reset_next -= 1
                return Decision(latency, "reset")
            if faults.timeout_next > 0:
                faults.timeout_next -= 1
                return Decision(latency, "timeout", timeout_s=faults.timeout_seconds)
            if faults.fail_next:
                status = faults.fail_next.pop(0)
                return Decision(latency, "fail", status, faults.retry_after_seconds)
            if faults.lose_answer_next > 0 and method != "GET":
                faults.lose_answer_next -= 1
                return Decision(
                    latency,
                    "lose",
                    timeout_s=faults.timeout_seconds,
                    lost_as=faults.lose_answer_with,
                )
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
