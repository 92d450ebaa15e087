"""The waits between tries (`retries.Pauses`): a batch's failure or a stop cuts them short."""

from __future__ import annotations

import threading
import time

import pytest

from target_lytics.errors import LyticsStoppedError
from target_lytics.retries import AbortedError, Pauses, RetryLaterError, retry_waits


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waiting(pauses: Pauses, seconds: float, abort: threading.Event | None = None):
    """Start `pauses.pause(seconds)` on a thread; returns the thread and what it raised."""
    outcome: list[BaseException | None] = []

    def wait() -> None:
        try:
            pauses.pause(seconds, "a request", abort)
        except (AbortedError, LyticsStoppedError) as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, outcome


def test_a_pause_waits_its_time():
    started = time.monotonic()
    Pauses().pause(0.2, "a request")
    assert time.monotonic() - started >= 0.2


def test_a_batch_failure_ends_a_long_pause_at_once():
    pauses, abort = Pauses(), threading.Event()
    thread, outcome = waiting(pauses, 600, abort)
    abort.set()
    pauses.wake()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the pause waited on"
    assert isinstance(outcome[0], AbortedError)


def test_a_stop_ends_a_pause_that_would_end_after_its_deadline():
    pauses = Pauses()
    thread, outcome = waiting(pauses, 600)
    pauses.stop_by(time.monotonic() + 5)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the pause waited on"
    assert isinstance(outcome[0], LyticsStoppedError)
    assert "the run was stopped while a request waited 600.0 s for a retry" in str(outcome[0])


def test_a_stop_lets_a_pause_end_that_fits_before_its_deadline():
    pauses = Pauses()
    thread, outcome = waiting(pauses, 0.3)
    pauses.stop_by(time.monotonic() + 60)
    thread.join(timeout=30)
    assert outcome == [None]


def test_after_a_stop_a_request_gets_only_the_time_left_and_none_past_the_deadline():
    clock = Clock()
    pauses = Pauses(clock)
    assert pauses.time_left(60, "a request") == 60
    pauses.stop_by(clock.now + 8)
    assert pauses.time_left(60, "a request") == 8
    assert pauses.time_left(3, "a request") == 3
    clock.now += 8
    with pytest.raises(LyticsStoppedError, match="stopped before a request could be sent"):
        pauses.time_left(60, "a request")


def test_the_wait_generator_announces_each_retry_and_hands_backoff_nothing_to_sleep():
    announced: list[tuple[int, str, float]] = []
    waits = retry_waits(
        Pauses(),
        base=0.001,
        what="a request",
        abort=None,
        announce=lambda attempt, failure, delay: announced.append((attempt, failure.reason, delay)),
    )
    assert waits.send(None) == 0.0  # backoff primes it
    assert waits.send(RetryLaterError("HTTP 503")) == 0.0
    assert waits.send(RetryLaterError("HTTP 429", retry_after=0.1)) == 0.0
    assert [(attempt, reason) for attempt, reason, _ in announced] == [
        (0, "HTTP 503"),
        (1, "HTTP 429"),
    ]
    assert 0.1 <= announced[1][2] <= 0.35  # Retry-After, plus at most a quarter second
