"""What ``make demo`` prints while Meltano works: a line per step, and a heartbeat in silences.

Meltano's own log of an install or a run is long (every line of both plugins, metrics, state
plumbing). A ``Narration`` follows it (``Meltano.logged``/``run`` hand it the new lines as
they come) and says only what a person watching wants: which step started, the tap's window
and its progress (days read of days planned, events read, viewing sessions written), what the
target found in the account and what Lytics accepted, the state saved. Warnings and errors are
always shown. When nothing was said for a while, a heartbeat says how long the step has taken
and what it is waiting for, so a slow machine never looks stuck.
"""

from __future__ import annotations

import re
import textwrap
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Narration", "condense"]

HEARTBEAT_SECONDS = 5.0
WIDTH = 100
"""Columns a narrated line may take; longer ones wrap under their text."""
_LINE = re.compile(r"^\S+ \[(?P<level>\w+)\s*\] (?P<source>\S+)\s+(?P<message>.*)$")
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})[\d:.]*Z")


class Said(NamedTuple):
    """What to print for a log line, and what the step waits for after it."""

    text: str
    waiting_for: str


# (message pattern, text, what comes next): the first match wins; `{name}` is a group; an
# empty text skips the line. Messages only, not their source: `meltano invoke` logs the
# plugin's lines as its own.
_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), text, waiting_for)
    for pattern, text, waiting_for in (
        (r"^Environment '(?P<env>[^']+)' is active", "Meltano started, environment {env}",
         "the plugins to start"),
        (r"^Installing (?P<kind>\w+) '(?P<name>[^']+)'",
         "installing {name} ({kind}) into its own virtualenv", "the plugins' packages"),
        (r"^Installed (?P<kind>\w+) '(?P<name>[^']+)'", "installed {name}", "the other plugins"),
        (r"^Skipped installing \w+ '(?P<name>[^']+)'",
         "{name}: nothing to install (it runs from the repository)", "the other plugins"),
        (r"^Running job with name '(?P<job>[^']+)'", "job {job} (its state id)",
         "the stored state"),
        (r"^No state was found", "no state yet: everything since start_date",
         "catalog discovery"),
        (r"^Reading state from", "reading the stored state (the bookmarks)",
         "catalog discovery"),
        (r"^Running catalog discovery", "catalog discovery (tap-wistia --discover)",
         "both plugins to start"),
        (r"^Incremental state has been updated", "state saved: the new bookmarks",
         "Meltano to finish"),
        (r"^(?P<plugin>tap-[\w-]+|target-[\w-]+) v\d", "{plugin} started", "its first request"),
        (r"^Reading Wistia events received (?P<what>.*)",
         "tap-wistia reads events received {what}", "the first day read"),
        ((r"^Progress: (?P<days>\d+ of \d+ days) read.*?, (?P<events>[\d,]+) events read, "
          r"(?P<sessions>[\d,]+) viewing sessions written"),
         "tap-wistia: {days} read, {events} events, {sessions} viewing sessions written",
         "the next day"),
        ((r"^(?P<wrote>Wrote .*?)\. Read (?P<events>[\d,]+) events from Wistia "
          r".*? in (?P<requests>[\d,]+) requests"),
         "tap-wistia: {wrote} (read {events} events in {requests} requests)",
         "the target to drain"),
        (r"^Lytics token accepted for account (?P<account>\S+)",
         "target-lytics: the token reaches Lytics account {account}", "the schema check"),
        (r"^Lytics schema plan", "", "the plan's end"),
        (r"^Lytics schema: created ", "", "the schema step"),
        (r"^Lytics schema: (?P<what>.*)", "target-lytics: {what}", "the tap's records"),
        (r"^Lytics accepted (?P<records>\d+) records on stream (?P<stream>\S+)",
         "target-lytics: Lytics accepted {records} records on {stream}", "more records"),
    )
)  # fmt: skip


def condense(line: str) -> Said | None:
    """What a person watching should read for one log line (None: nothing)."""
    parsed = _LINE.match(line)
    if parsed is None:
        return None
    message = parsed["message"].strip()
    for pattern, text, waiting_for in _RULES:
        if found := pattern.search(message):
            shown = _TIME.sub(r"\1 \2", text.format(**found.groupdict()))
            return Said(shown, waiting_for) if shown else None
    if parsed["level"] in {"warning", "error", "critical"}:
        return Said(f"{parsed['level']}: {message}", "")
    return None


class Narration:
    """Follows one Meltano command for people watching (call it with each batch of new lines).

    Each line worth reading is printed with the seconds since the step started; after
    ``heartbeat`` seconds of silence, one line says the step is still running and what for.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        *,
        waiting_for: str = "Meltano to start",
        heartbeat: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start the step's clock now; ``waiting_for`` is what it does first."""
        self._say = say
        self._clock = clock
        self._heartbeat = heartbeat
        self.started = self._last = clock()
        self.waiting_for = waiting_for

    def __call__(self, lines: Sequence[str]) -> None:
        """Print what the new lines say, or a heartbeat when the step has been quiet too long."""
        for line in lines:
            said = condense(line)
            if said is not None:
                self._print(said.text)
                self.waiting_for = said.waiting_for or self.waiting_for
        if self._clock() - self._last >= self._heartbeat:
            self._print(f"… still running, waiting for {self.waiting_for}")

    def _print(self, text: str) -> None:
        now = self._clock()
        lead = f"   {now - self.started:5.1f} s  "
        indent = " " * len(lead)
        wrapped = textwrap.wrap(
            text, WIDTH, initial_indent=lead, subsequent_indent=indent, break_on_hyphens=False
        )
        for line in wrapped:
            self._say(line)
        self._last = now
