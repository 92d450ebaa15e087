"""How the tap's process gives memory back to the system: large blocks in their own mappings.

glibc serves a block of 128 KiB or more from its own memory mapping, returned to the system when
freed, and smaller ones from heaps that shrink only from the top. But its threshold moves: each
mapped block freed raises it to that block's size. Wistia pages are about 100 KB, read by eight
threads and freed by another one after a while, so after the first few they all land in the
heaps, and the heaps' high-water mark becomes the process's.

Measured (issue 23, on the project's 2-core machine; the tap backfilling 30 days of a Wistia
sandbox, both viewing streams, peak RSS from `wait4`, `mallopt` left out by a no-op for the
"without" runs): at 1,000,000 events 76-77 MB with it, 99 MB without; at 100,000 events 64-67 MB
with it, 70-73 MB without; the same CPU time either way (52-56 s at 1,000,000). Without it the
peak grows with the volume (99 ÷ 71 = 1.39 for ten times the events, against 76 ÷ 65 = 1.17),
which is what `make bench`'s memory figure bounds (1.2).
"""

from __future__ import annotations

import ctypes
import sys

MAPPED_FROM = 64 * 1024
"""Blocks of this many bytes or more get their own mapping (a page body, never a record)."""
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def map_large_blocks() -> bool:
    """Fix glibc's mapping threshold at `MAPPED_FROM`; False where the C library is not glibc.

    Process-wide and idempotent. A mapped block costs a system call and its pages' first
    touch: about 20 µs per 100-event page, a fraction of a percent of the tap's time.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (not glibc)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MAPPED_FROM))
