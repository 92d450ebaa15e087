"""Records Lytics rejects: found one by one, kept in a dead-letter file, counted against a limit.

Lytics can answer a collect with 200 and a `rejected_count` above 0: those records were not
ingested, and the answer does not say which they were. Failing the run keeps the STATE behind
them, but the next run sends the same batch and fails again, for ever, while every later event
waits. So, when `dead_letter_path` is set, the rejected records are found (`find_rejected`:
halves of the request sent again as dry runs, down to single records) and written to that file,
one JSON line each with Lytics' answer (`DeadLetters.park`). The run fails only once more than
`max_rejected_records` were parked; under it, the STATE passes the parked records.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from target_lytics.errors import LyticsRejectedError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record Lytics rejected (as sent, JSON-encoded) and Lytics' answer about it."""

    record: bytes
    answer: Any


def find_rejected(
    records: list[bytes],
    rejected: int,
    answer: Any,
    probe: Callable[[list[bytes]], tuple[int, Any]],
) -> list[tuple[bytes, Any]]:
    """Which of `records` Lytics rejects, each with the answer that rejected it alone.

    `rejected` and `answer` are what Lytics said about all of them; `probe(some)` asks again
    about some of them (a dry run) and returns (`rejected_count`, answer). Each group with
    rejections is split in halves and both are asked about, down to single records: every
    record named comes with an answer of its own, nothing is inferred from a sum. A group
    whose probe rejects nothing is left, whatever its parent said.
    """
    found: list[tuple[bytes, Any]] = []
    pending: list[tuple[list[bytes], int, Any]] = [(records, rejected, answer)]
    while pending:  # depth first, left half first: the records are found in their order
        group, count, said = pending.pop()
        if count <= 0:
            continue
        if len(group) == 1:
            found.append((group[0], said))
            continue
        half = len(group) // 2
        halves = [(part, *probe(part)) for part in (group[:half], group[half:])]
        pending += reversed(halves)
    return found


class DeadLetters:
    """The dead-letter file of a run and the count of records parked in it.

    Parking is safe from several threads at once; each call's lines are flushed to disk
    before it returns, since the STATE printed after it passes those records.
    """

    def __init__(
        self,
        path: Path,
        max_rejected: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Append to `path` (created when the first record is parked)."""
        self.path = path
        self.max_rejected = max_rejected
        self.parked = 0
        self._clock = clock
        self._lock = threading.Lock()

    def park(self, stream: str, rejections: list[Rejection]) -> None:
        """Write the rejected records of one request and count them.

        Raises:
            LyticsRejectedError: this run has now parked more than `max_rejected_records`
                (the records are in the file all the same, for the user to look at).
        """
        at = self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = "".join(_line(stream, item, at) for item in rejections)
        with self._lock:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())
            self.parked += len(rejections)
            parked = self.parked
        if parked > self.max_rejected:
            msg = (
                f"Lytics rejected {len(rejections)} records on stream {stream!r} (written to "
                f"{self.path} with Lytics' answers); this run has now parked {parked}, more "
                f"than max_rejected_records ({self.max_rejected}): fix those records or the "
                "mapping and rerun, or raise max_rejected_records to let runs go on past such "
                "records (the STATE was not advanced, so the rerun parks them again)"
            )
            raise LyticsRejectedError(msg)


def _line(stream: str, rejection: Rejection, at: str) -> str:
    try:
        record: Any = json.loads(rejection.record)
    except ValueError:
        record = rejection.record.decode("utf-8", "replace")
    entry = {"parked_at": at, "stream": stream, "record": record, "lytics_answer": rejection.answer}
    return json.dumps(entry, ensure_ascii=False) + "\n"
