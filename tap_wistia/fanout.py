"""Many independent reads at once (one per media, one per folder), answers handed over in order.

The statistics of 100,000 medias are 100,000 requests: one at a time, a 300 ms API would take
eight hours; Wistia's 600 requests a minute allow them in under three. So jobs run on a pool of
`max_parallel` threads, each request through the run's one client, whose budget holds the
account's limit and whose rate-limit pauses hold every thread (as for the events' pages).

Results are handed over in the order the jobs came, so a stream writes its records in a stable
order, and at most twice `max_parallel` jobs are out or held at once, so memory does not grow with
the account. Once the run is stopping (a signal stopped the budget), no job starts any more and
`read_each` raises `RunInterruptedError` between two hand-overs without waiting for reads still
out, as the event pager does: the caller has moved no mark yet, so nothing is claimed.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from tap_wistia.client import RunInterruptedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")
_POLL_SECONDS = 0.25  # how often a wait looks whether the run is stopping


def read_each(
    jobs: Iterable[tuple[_Key, Callable[[], _Value]]],
    *,
    max_parallel: int,
    stopping: Callable[[], bool],
) -> Iterator[tuple[_Key, _Value]]:
    """Run each `(key, job)` with up to `max_parallel` at once; yield `(key, result)` in order.

    A job that raises stops the whole read with its error (jobs still out are not waited for).

    Raises:
        RunInterruptedError: `stopping()` said so.
    """
    pool = ThreadPoolExecutor(max(1, max_parallel), thread_name_prefix="wistia-fanout")
    try:
        yield from _in_order(pool, iter(jobs), 2 * max(1, max_parallel), stopping)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _in_order(
    pool: ThreadPoolExecutor,
    jobs: Iterator[tuple[_Key, Callable[[], _Value]]],
    window: int,
    stopping: Callable[[], bool],
) -> Iterator[tuple[_Key, _Value]]:
    out: deque[tuple[_Key, Future[_Value]]] = deque()
    exhausted = False
    while True:
        while not exhausted and len(out) < window:
            _check(stopping)
            job = next(jobs, None)
            if job is None:
                exhausted = True
                break
            out.append((job[0], pool.submit(job[1])))
        if not out:
            return
        key, first = out[0]
        while not first.done():
            wait([first], timeout=_POLL_SECONDS, return_when=FIRST_COMPLETED)
            _check(stopping)
        out.popleft()
        yield key, first.result()


def _check(stopping: Callable[[], bool]) -> None:
    if stopping():
        msg = "the run is stopping"
        raise RunInterruptedError(msg)
