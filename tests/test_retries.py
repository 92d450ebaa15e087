"""The waits between tries, and how a stop signal cuts them short without any other thread.

The target waits on the thread that reads its input. A signal runs its handler there, in the
middle of the wait: a retry whose wait would end after the stop's deadline ends at once
(`LyticsStoppedError` raised from the handler), one that fits goes on, and every later request
gets only the time left.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest

from api_http.client import RetryLaterError
from target_lytics.client import ClientSettings, LyticsClient
from target_lytics.errors import LyticsStoppedError
from target_lytics.stopping import StopRequest

if TYPE_CHECKING:
    from collections.abc import Iterator

LOGGER = logging.getLogger("test")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def stop_request(clock: Clock | None = None, grace: float = 8.0) -> StopRequest:
    return StopRequest(lambda _: None, LOGGER, grace=grace, clock=clock or time.monotonic)


@pytest.fixture
def signalled() -> Iterator[StopRequest]:
    """A stop request that SIGUSR1 signals (as SIGTERM) while the test waits; alarm undone after.

    The grace period is long, and the alarm it sets is cancelled at the end of the test, so the
    alarm never ends the test process.
    """
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    stop = stop_request(grace=60.0)
    alarm = signal.getsignal(signal.SIGALRM)
    previous = signal.signal(signal.SIGUSR1, lambda _, frame: stop.on_signal(signal.SIGTERM, frame))
    try:
        yield stop
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, alarm)
        signal.signal(signal.SIGUSR1, previous)


def signal_in(seconds: float) -> threading.Timer:
    """SIGUSR1 to the main thread in `seconds`."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(seconds, signal.pthread_kill, (main, signal.SIGUSR1))
    timer.start()
    return timer


def test_a_pause_waits_its_time():
    started = time.monotonic()
    stop_request().pause(0.2, "a request")
    assert time.monotonic() - started >= 0.2


def test_after_a_stop_a_request_gets_only_the_time_left_and_none_past_the_deadline():
    clock = Clock()
    stop = stop_request(clock)
    assert stop.time_left(60, "a request") == 60
    stop.deadline = clock.now + 8
    assert stop.time_left(60, "a request") == 8
    assert stop.time_left(3, "a request") == 3
    clock.now += 8
    with pytest.raises(LyticsStoppedError, match="stopped before a request could be sent"):
        stop.time_left(60, "a request")


def test_after_a_stop_a_wait_past_the_deadline_is_not_begun():
    clock = Clock()
    stop = stop_request(clock)
    stop.deadline = clock.now + 5
    with pytest.raises(LyticsStoppedError, match=r"while a request waited 30\.0 s for a retry"):
        stop.pause(30, "a request")


def test_a_signal_during_a_wait_past_its_deadline_ends_the_wait_at_once(signalled):
    timer = signal_in(0.3)
    started = time.monotonic()
    with pytest.raises(LyticsStoppedError, match=r"while a request waited 600\.0 s for a retry"):
        signalled.pause(600, "a request")
    timer.join()
    assert time.monotonic() - started < 30
    assert signalled.signum == signal.SIGTERM


def test_a_signal_during_a_wait_that_fits_the_deadline_lets_it_end(signalled):
    timer = signal_in(0.1)
    started = time.monotonic()
    signalled.pause(1.0, "a request")  # the grace period is 60 s
    timer.join()
    assert time.monotonic() - started >= 1.0
    assert signalled.deadline is not None


def test_the_wait_generator_announces_and_counts_each_retry_and_hands_backoff_nothing():
    client = LyticsClient(ClientSettings("http://127.0.0.1:9", "t0ken-x", retry_backoff=0.001))
    waits = client._waits("a request")
    assert waits.send(None) == 0.0  # backoff primes it
    assert waits.send(RetryLaterError("HTTP 503")) == 0.0
    started = time.monotonic()
    assert waits.send(RetryLaterError("HTTP 429", retry_after=0.1)) == 0.0
    assert time.monotonic() - started >= 0.1  # Retry-After, waited by the generator itself
    assert client.retries == 2
