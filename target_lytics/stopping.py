"""SIGINT and SIGTERM: stop reading, deliver what was read within a grace period, exit 130/143.

Schedulers and container runtimes stop a run with SIGTERM; Ctrl-C sends SIGINT (to Meltano and
both plugins). The SDK's own handler drains the sinks from inside the signal handler, so a
signal arriving while the final drain waits on a retry drains again re-entrantly, finds
nothing, prints the latest STATE and exits 0: the records in flight are lost. Here the handler
only takes note (`StopRequest`):

- no more input is read: a read waiting for input ends at once (`InputStoppedError`), and
  otherwise the reader stops before its next line, so the message being handled completes;
- what was read is still delivered, but everything must end within `GRACE_SECONDS`: retries
  whose wait would end later are not made and later requests get only the time left
  (`LyticsClient.stop_by`); the SDK then prints the latest STATE only if every record before
  it was confirmed, as at the end of any input;
- the process exits with 128 + the signal (130, 143), so `meltano run` and schedulers see that
  the run was cut short. If the delivery is still not done at the deadline, an alarm ends the
  process there, without printing a STATE: the last one printed stands, and the next run
  resends the rest.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

GRACE_SECONDS: Final = 8.0
"""How long a stopping run may take to deliver what it read. Docker waits 10 s after SIGTERM
before SIGKILL, Kubernetes 30 s: ending within 8 s leaves a STATE a chance to be stored first."""


STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGALRM})
"""The signals a stop is made of: the two that ask for it, and the alarm that ends its grace."""


def worker_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose threads leave `STOP_SIGNALS` to the main thread.

    The kernel hands a signal sent to the process to any thread that does not block it. Taken by
    a worker, it does not interrupt the main thread's wait (for an input line, a free request
    slot, an answer): the handler runs only once that wait ends by itself, which for input that
    stays open is never (seen under load: SIGINT handled 63 s late, when the input closed).
    Blocked in every worker, a signal always reaches the main thread.
    """
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix=name, initializer=_leave_stop_signals_to_main
    )


def _leave_stop_signals_to_main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


class InputStoppedError(Exception):
    """A signal ended the input: no more lines are read."""


class StopRequest:
    """Whether (and by which signal) the run was asked to stop, and what a stop must reach.

    `reading` is set by the reader while it waits for a line: a signal then ends the wait by
    raising `InputStoppedError` from the handler (nothing is half done there). Otherwise the
    handler only records the signal and the reader checks `signum` before its next line.
    """

    def __init__(
        self,
        on_stop: Callable[[float], None],
        logger: logging.Logger,
        *,
        grace: float = GRACE_SECONDS,
    ) -> None:
        """`on_stop(deadline)` is told the `time.monotonic` time by which delivery must end."""
        self.signum: int | None = None
        self.reading = False
        self._on_stop = on_stop
        self._logger = logger
        self._grace = grace

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (only the main thread can)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002 - signal's API
        """Take note of the first signal; a later one (Meltano forwards Ctrl-C) changes nothing."""
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
            self._on_stop(time.monotonic() + self._grace)
            signal.signal(signal.SIGALRM, self._give_up)
            signal.setitimer(signal.ITIMER_REAL, self._grace)
        if self.reading:
            self.reading = False
            raise InputStoppedError

    def _give_up(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self._logger.error(
            "Lytics did not confirm every record read within %g s of the %s: exiting without a "
            "newer STATE; the next run resends what is unconfirmed",
            self._grace,
            signal.Signals(self.signum or signal.SIGTERM).name,
        )
        exit_stopped(self.signum, output=False)


def exit_stopped(signum: int | None, *, output: bool = True) -> NoReturn:
    """End a process whose run a signal stopped: flush what was written, exit 128 + signal.

    `os._exit`, not `sys.exit`: a request still in flight may take up to its timeout, and the
    interpreter would wait for its thread before exiting. With `output=False` (the alarm, which
    may interrupt the writing of a STATE) stdout is left as it is: the SDK flushes every STATE
    it prints, and a line cut short is no JSON a state store would take.
    """
    for stream in (sys.stdout, sys.stderr) if output else (sys.stderr,):
        # A closed pipe, or a stream busy in the code the alarm interrupted: leave it.
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            stream.flush()
    logging.shutdown()
    os._exit(128 + (signum or signal.SIGTERM))
