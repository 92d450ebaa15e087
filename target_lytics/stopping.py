"""SIGINT and SIGTERM: stop reading, deliver what was read within a grace period, exit 130/143.

Schedulers and container runtimes stop a run with SIGTERM; Ctrl-C sends SIGINT (to Meltano and
both plugins). The SDK's own handler drains the sinks from inside the signal handler, so a
signal arriving while the final drain waits on a retry drains again re-entrantly, finds
nothing, prints the latest STATE and exits 0: the records in flight are lost. Here the handler
only takes note (`StopRequest`):

- no more input is read: a read waiting for input ends at once (`InputStoppedError`), and
  otherwise the reader stops before its next line, so the message being handled completes;
- what was read is still delivered, but everything must end within `GRACE_SECONDS`: a retry
  whose wait would end later is not made, and later requests get only the time left; the SDK
  then prints the latest STATE only if every record before it was confirmed, as at the end of
  any input;
- the process exits with 128 + the signal (130, 143), so `meltano run` and schedulers see that
  the run was cut short. If the delivery is still not done at the deadline, an alarm ends the
  process there, without printing a STATE: the last one printed stands, and the next run
  resends the rest.

The target starts no thread, so the signal always reaches the thread that waits: Python runs
the handler in the main thread as soon as the system call it is blocked in (reading input,
waiting for an answer, sleeping before a retry) is interrupted. Without an exception from the
handler the call then resumes (PEP 475), which is right for a request in flight: its answer may
still come within the grace period, and the alarm ends the process if it does not. A wait that
must end instead (for input, for a retry past the deadline) is marked while it lasts, and the
handler raises out of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn

from target_lytics.errors import LyticsStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

GRACE_SECONDS: Final = 8.0
"""How long a stopping run may take to deliver what it read. Docker waits 10 s after SIGTERM
before SIGKILL, Kubernetes 30 s: ending within 8 s leaves a STATE a chance to be stored first."""


class InputStoppedError(Exception):
    """A signal ended the input: no more lines are read."""


@dataclass(frozen=True, slots=True)
class _Wait:
    """A wait before a retry, while it lasts: when it ends (`clock()` time), how long, for what."""

    end: float
    seconds: float
    what: str


class StopRequest:
    """Whether (and by which signal) the run was asked to stop, and the deadline a stop sets.

    `reading` is set by the reader while it waits for a line, and `pause` marks a wait before a
    retry: a signal ends either by raising from the handler (`InputStoppedError`, or
    `LyticsStoppedError` for a wait that would end past the deadline; nothing is half done
    there). Otherwise the handler only records the signal, and the reader checks `signum`
    before its next line.
    """

    def __init__(
        self,
        on_stop: Callable[[int], None],
        logger: logging.Logger,
        *,
        grace: float = GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_stop(signum)` is told of the first signal."""
        self.signum: int | None = None
        self.reading = False
        #: The `clock()` time by which a stopping run must be done (None until a signal).
        self.deadline: float | None = None
        self._waiting: _Wait | None = None
        self._on_stop = on_stop
        self._logger = logger
        self._grace = grace
        self._clock = clock

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (only the main thread can)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - signal's API
        """Take note of the first signal; a later one (Meltano forwards Ctrl-C) changes nothing.

        Raises:
            InputStoppedError: the run was waiting for an input line.
            LyticsStoppedError: the run was waiting to retry, past the deadline.
        """
        if self.signum is None:
            self.signum = signum
            self._logger.warning(
                "Received %s: reading no more input; delivering what was read (within %g s), "
                "then exiting with %d. A STATE is printed only if Lytics confirmed every record "
                "before it.",
                signal.Signals(signum).name,
                self._grace,
                128 + signum,
            )
            self.deadline = self._clock() + self._grace
            self._on_stop(signum)
            signal.signal(signal.SIGALRM, self._give_up)
            signal.setitimer(signal.ITIMER_REAL, self._grace)
        if self.reading:
            self.reading = False
            raise InputStoppedError
        waiting = self._waiting
        if waiting is not None and not self._fits(waiting.end):
            self._waiting = None
            raise _stopped_waiting(waiting)

    def _fits(self, end: float) -> bool:
        return self.deadline is None or end <= self.deadline

    def time_left(self, wanted: float, what: str) -> float:
        """`wanted` seconds, or fewer if a stop's deadline comes first.

        Raises:
            LyticsStoppedError: the deadline has passed: `what` is not sent.
        """
        if self.deadline is None:
            return wanted
        left = self.deadline - self._clock()
        if left <= 0:
            msg = f"the run was stopped before {what} could be sent"
            raise LyticsStoppedError(msg)
        return min(wanted, left)

    def pause(self, seconds: float, what: str) -> None:
        """Wait `seconds` before the next try of `what`, unless a stop's deadline comes first.

        Raises:
            LyticsStoppedError: the wait would end after a stop's deadline (now, or when the
                signal arrives during it).
        """
        waiting = _Wait(self._clock() + seconds, seconds, what)
        if not self._fits(waiting.end):
            raise _stopped_waiting(waiting)
        self._waiting = waiting
        try:
            time.sleep(seconds)
        finally:
            self._waiting = None

    def _give_up(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self._logger.error(
            "Lytics did not confirm every record read within %g s of the %s: exiting without a "
            "newer STATE; the next run resends what is unconfirmed",
            self._grace,
            signal.Signals(self.signum or signal.SIGTERM).name,
        )
        exit_stopped(self.signum, output=False)


def _stopped_waiting(waiting: _Wait) -> LyticsStoppedError:
    return LyticsStoppedError(
        f"the run was stopped while {waiting.what} waited {waiting.seconds:.1f} s for a retry"
    )


def exit_stopped(signum: int | None, *, output: bool = True) -> NoReturn:
    """End a process whose run a signal stopped: flush what was written, exit 128 + signal.

    `os._exit`, not `sys.exit`: the alarm may interrupt the code of any library, and nothing
    should run after it but the flush of what was written. With `output=False` (the alarm, which
    may interrupt the writing of a STATE) stdout is left as it is: the SDK flushes every STATE
    it prints, and a line cut short is no JSON a state store would take.
    """
    for stream in (sys.stdout, sys.stderr) if output else (sys.stderr,):
        # A closed pipe, or a stream busy in the code the alarm interrupted: leave it.
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    logging.shutdown()
    os._exit(128 + (signum or signal.SIGTERM))
