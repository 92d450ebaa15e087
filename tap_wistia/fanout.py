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

from tap_wistia.client import check_running

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")
_Handed = TypeVar("_Handed")
POLL_SECONDS = 0.25
"""How often a reader waiting on Wistia's answers looks whether the run is stopping."""


def in_pool(
    max_parallel: int, name: str, read: Callable[[ThreadPoolExecutor], Iterator[_Handed]]
) -> Iterator[_Handed]:
    """What `read` hands over, its requests on a pool of `max_parallel` threads.

    Stopping or failing, requests still out are not waited for (one may take minutes); done,
    the pool is shut down with nothing left in it.
    """
    pool = ThreadPoolExecutor(max(1, max_parallel), thread_name_prefix=name)
    try:
        yield from read(pool)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


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
    window = 2 * max(1, max_parallel)
    return in_pool(
        max_parallel, "wistia-fanout", lambda pool: _in_order(pool, iter(jobs), window, stopping)
    )


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
            check_running(stopping)
            job = next(jobs, None)
            if job is None:
                exhausted = True
                break
            out.append((job[0], pool.submit(job[1])))
        if not out:
            return
        key, first = out[0]
        while not first.done():
            wait([first], timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            check_running(stopping)
        out.popleft()
        yield key, first.result()
