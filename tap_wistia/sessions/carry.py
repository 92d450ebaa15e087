"""What one run leaves to the next (`Carry`), and where the next run starts reading."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_wistia.events import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    from datetime import date, datetime, timedelta

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Carry:
    """What one run leaves to the next so that hourly runs agree with one big run.

    - `watermark`: every event received before it was fed, and every session that ended before
      `watermark - gap` was emitted.
    - `horizon`: sessions that ended before it are final (emitted by an earlier run); a later
      run never emits them again, as it may see only their tail. Sessions ending at or after it
      are "in the window": the next run recomputes them whole. Normally
      `watermark - lookback - gap`; it never moves back, so raising `lookback` is safe. None
      (a hand-built carry) means `watermark - lookback - gap` of the builder that reads it.
    - `reread_from`: earliest start of a session in the window (None when the window is empty):
      the next run re-reads events from there so those sessions are recomputed whole.
    - `emitted`: session_id → fingerprint last emitted, only for sessions in the window, so its
      size follows the activity of the window, never the history.
    """

    watermark: datetime
    reread_from: datetime | None
    emitted: dict[str, str] = field(default_factory=dict)
    horizon: datetime | None = None

    def to_state(self) -> dict[str, Any]:
        """Give a JSON-able form for the tap's state (timestamps canonical, fingerprints hex)."""
        return {
            "version": STATE_VERSION,
            "watermark": format_timestamp(self.watermark),
            "horizon": _format_optional(self.horizon),
            "reread_from": _format_optional(self.reread_from),
            "emitted": dict(self.emitted),
        }

    @classmethod
    def from_state(cls, state: object) -> Carry | None:
        """Read `to_state`'s form back; None when there is none yet (None or empty: first run).

        Raises:
            UnreadableStateError: (a ValueError) the stored state is malformed. Guessing
                would re-emit or skip sessions silently; the message says how to rebuild it.
        """
        if state is None or (isinstance(state, Mapping) and not state):
            return None
        if not isinstance(state, Mapping):
            problem = f"expected an object, got {type(state).__name__}"
            raise UnreadableStateError(problem)
        version = state.get("version", STATE_VERSION)
        if version != STATE_VERSION:
            problem = f"version {version!r} is not {STATE_VERSION}; upgrade the tap"
            raise UnreadableStateError(problem)
        watermark = parse_timestamp(state.get("watermark"))
        if watermark is None:
            problem = f"watermark {state.get('watermark')!r} is not a timestamp"
            raise UnreadableStateError(problem)
        emitted = state.get("emitted", {})
        if not isinstance(emitted, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in emitted.items()
        ):
            problem = "emitted must map session ids to fingerprint strings"
            raise UnreadableStateError(problem)
        return cls(
            watermark=watermark,
            reread_from=_parse_optional(state, "reread_from"),
            emitted=dict(emitted),
            horizon=_parse_optional(state, "horizon"),
        )


def _format_optional(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _parse_optional(state: Mapping[str, Any], key: str) -> datetime | None:
    """An optional timestamp of the state; a present but unreadable one is an error."""
    value = state.get(key)
    if value is None:
        return None
    moment = parse_timestamp(value)
    if moment is None:
        problem = f"{key} {value!r} is not a timestamp"
        raise UnreadableStateError(problem)
    return moment


class UnreadableStateError(ValueError):
    """The stored carry is malformed: guessing would re-emit or skip sessions silently."""

    def __init__(self, problem: str, resume_day: date | None = None) -> None:
        """Say what is wrong and how to rebuild the state without losing a gap.

        Clearing the state alone would make the next run a first run, which without
        `start_date` reads only the last hour: the advice always names a start day first.
        `resume_day`, when the stream's bookmark is still readable, is a day safely before it.
        """
        self.problem = problem
        if resume_day is not None:
            day = (
                f"set start_date to {resume_day.isoformat()} (a day before the stream's "
                "last bookmark) or earlier"
            )
        else:
            day = "set start_date to the day of the last run that delivered, or earlier"
        super().__init__(
            f"The stored wistia_activity state is unreadable: {problem}. To rebuild it without "
            f"a gap, {day} (an earlier day only sends sessions again, which Lytics merges), "
            "then clear the tap's state (e.g. `meltano state clear <state id>`). Clearing it "
            "with start_date empty would read only the last hour."
        )


def fetch_start(carry: Carry | None, *, lookback: timedelta, default: datetime) -> datetime:
    """Where the next run must start reading events.

    Far enough back to re-read the lookback (late percent_viewed updates) and every event of the
    sessions in the carry's window (so they are recomputed whole); `default` on a first run.
    """
    if carry is None:
        return default
    start = carry.watermark - lookback
    if carry.reread_from is not None and carry.reread_from < start:
        return carry.reread_from
    return start
