"""One sink batch on its way to one Lytics stream, in several requests at once.

Records are added one by one (already JSON-encoded); a request leaves as soon as it holds
`rows_per_request` records or would outgrow `max_request_bytes`, so reading input overlaps with
sending. `finish` sends the rest, waits for every request and raises the first failure. The
first failure also stops the batch's other requests from retrying (their waits are woken): the
run is going to stop, and its STATE will not pass any of these records.
"""

from __future__ import annotations

import threading
from concurrent.futures import wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from target_lytics.retries import AbortedError

if TYPE_CHECKING:
    from concurrent.futures import Future

    from target_lytics.client import LyticsClient


@dataclass(slots=True)
class CollectReport:
    """What it took to deliver some records: counts for the sink's summary line."""

    records: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0
    parked: int = 0
    dry_runs: int = 0

    def add(self, other: CollectReport) -> None:
        """Fold another request's report into this one."""
        self.records += other.records
        self.requests += other.requests
        self.retries += other.retries
        self.splits += other.splits
        self.parked += other.parked
        self.dry_runs += other.dry_runs


class Delivery:
    """The requests of one batch: sent as they fill, all confirmed by `finish`."""

    def __init__(self, client: LyticsClient, stream: str, timestamp_field: str | None) -> None:
        """Start empty; nothing is sent before the first request fills."""
        self.stream = stream
        self.timestamp_field = timestamp_field
        self._client = client
        self._rows = client.settings.rows_per_request
        self._max_bytes = client.settings.max_request_bytes - 2  # the array's brackets
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._futures: list[Future[CollectReport]] = []
        self._error: BaseException | None = None
        self._abort = threading.Event()

    @property
    def pending_records(self) -> int:
        """Records added but not yet handed to a request."""
        return len(self._buffer)

    def add(self, record: bytes) -> None:
        """Queue one encoded record; may send a full request (and block when too many are out).

        Raises:
            LyticsError: an earlier request of this batch already failed.
        """
        size = len(record) + 1  # the comma
        if self._buffer and self._buffer_bytes + size > self._max_bytes:
            self._send_buffer()
        self._buffer.append(record)
        self._buffer_bytes += size
        if len(self._buffer) >= self._rows:
            self._send_buffer()

    def _send_buffer(self) -> None:
        """Hand the buffered records to a request.

        The buffer is emptied only once the request is registered, so `finish` never misses
        records whose request did not leave.
        """
        if self._error is not None:
            raise self._error
        records = self._buffer
        client, stream, timestamp_field, abort = (
            self._client,
            self.stream,
            self.timestamp_field,
            self._abort,
        )

        def job() -> CollectReport:
            return client.collect(stream, records, timestamp_field=timestamp_field, abort=abort)

        future = client.submit(job)
        future.add_done_callback(self._note_failure)
        self._futures.append(future)
        if self._buffer is records:
            self._buffer, self._buffer_bytes = [], 0

    def _note_failure(self, future: Future[CollectReport]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None and not isinstance(error, AbortedError) and self._error is None:
            self._error = error
            self._abort.set()
            self._client.pauses.wake()

    def finish(self) -> CollectReport:
        """Send what is left and wait for every request; return only if all were accepted.

        Raises:
            LyticsError: the first failure among the batch's requests.
        """
        try:
            if self._buffer:
                self._send_buffer()
        finally:
            wait(self._futures)
        failures = (future.exception() for future in self._futures)
        error = self._error or next(
            (exc for exc in failures if exc and not isinstance(exc, AbortedError)), None
        )
        if error is not None:
            raise error
        report = CollectReport()
        for future in self._futures:
            report.add(future.result())
        self._futures = []
        return report
