"""Nothing the playground starts outlives it.

A sandbox dies with the process that started it (``PR_SET_PDEATHSIG``, set in the child before
``exec`` through the C library's ``prctl``: neither psutil nor the standard library offers that
call), and whatever was started and not stopped yet is stopped at interpreter exit (``atexit``),
for the runs that end without reaching their ``with`` exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["STOP_TIMEOUT", "Stoppable", "die_with_parent", "forget", "track"]

STOP_TIMEOUT = 10.0
"""Seconds a process gets to end after SIGTERM before it is sent SIGKILL."""
_PR_SET_PDEATHSIG = 1


class Stoppable(Protocol):
    """Something started that can be stopped (a sandbox process, a Meltano run)."""

    def stop(self) -> object:
        """End it now."""


_LIVE: set[Stoppable] = set()
"""Everything started and not yet stopped, for the interpreter-exit safety net."""


def track(item: Stoppable) -> None:
    """Stop ``item`` at interpreter exit unless it was forgotten first."""
    _LIVE.add(item)


def forget(item: Stoppable) -> None:
    """``item`` stopped on its own: nothing left to do at exit."""
    _LIVE.discard(item)


@atexit.register
def _stop_everything() -> None:
    for item in list(_LIVE):
        with contextlib.suppress(Exception):
            item.stop()


def _find_prctl() -> Callable[..., int] | None:
    """The C library's ``prctl``, looked up once in the parent (Linux; None elsewhere)."""
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _find_prctl()


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so nothing is orphaned.

    Only a C call here: the lookup happened before the fork, so no lock can be held.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
