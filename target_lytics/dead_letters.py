"""Rejected records, whoever rejects them: parked in a dead-letter file, counted against a limit.

A record can be rejected twice over. Lytics can answer a collect with 200 and a
`rejected_count` above 0: those records were not ingested, and the answer does not say which
they were (`find_rejected` names them: halves of the request sent again as dry runs, down to
single records). And some records Lytics is documented to drop are known before they are sent:
over 16 KB in a batch, or with an identifier value over 256 bytes (the sink checks them).
Failing the run keeps the STATE behind such a record, but the next run sends it again and fails
again, for ever, while every later event waits. So, when `dead_letter_path` is set, every
rejected record is written to that file, one JSON line each with the reason and Lytics' answer
(`DeadLetters.park`), and the run fails only once more than `max_rejected_records` were parked;
under it, the STATE passes the parked records. Without the file a rejection stops the run, with
the message saying how to park.

The file holds records and Lytics' answers, which may echo the request's `Authorization`
header: it is written with mode 0600, and every string in it masked like the logs
(`api_http.secrets.redact`). A file that cannot be written (a full disk, a read-only folder)
stops the run with one line naming `dead_letter_path` and the system's error, before any STATE
passes the records it should have held.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from api_http.secrets import redact
from target_lytics.errors import LyticsError, LyticsRejectedError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

FILE_MODE: Final = 0o600
"""Read and written by the user running the target only: the records are the account's data."""


class DeadLetterError(LyticsError):
    """The dead-letter file could not be written: the records it should hold are not parked."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One rejected record (JSON-encoded, as sent or as it would be), why, and Lytics' answer.

    `answer` is None when target-lytics refused the record itself, without sending it.
    """

    record: bytes
    reason: str
    answer: Any = None


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
    """The run's dead-letter file (if any) and the count of records parked in it.

    Each call's lines are on disk (fsync) before it returns, since the STATE printed after
    it passes those records.
    """

    def __init__(
        self,
        path: Path | None,
        max_rejected: int = 0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Append to `path` (created, mode 0600, when the first record is parked); None: no file."""
        self.path = path
        self.max_rejected = max_rejected
        self.parked = 0
        self._clock = clock

    @property
    def keeps(self) -> bool:
        """Whether rejected records can be parked (a file is set) rather than stop the run."""
        return self.path is not None

    def park(self, stream: str, rejections: list[Rejection]) -> None:
        """Write rejected records of one stream and count them.

        Raises:
            LyticsRejectedError: no file is set, or this run has now parked more than
                `max_rejected_records` (the records are in the file all the same, to look at).
            DeadLetterError: the file cannot be written.
        """
        if self.path is None:
            msg = (
                f"{len(rejections)} records of stream {stream!r} were rejected ("
                f"{rejections[0].reason}): set dead_letter_path and max_rejected_records to park "
                "such records and go on"
            )
            raise LyticsRejectedError(msg)
        at = self._clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines = "".join(_line(stream, item, at) for item in rejections)
        _append(self.path, lines.encode(), stream)
        self.parked += len(rejections)
        if self.parked > self.max_rejected:
            msg = (
                f"{len(rejections)} records of stream {stream!r} were rejected (written to "
                f"{self.path} with the reasons); this run has now parked {self.parked}, more than "
                f"max_rejected_records ({self.max_rejected}): fix those records or the mapping "
                "and rerun, or raise max_rejected_records to let runs go on past such records "
                "(the STATE was not advanced, so the rerun parks them again)"
            )
            raise LyticsRejectedError(msg)


def _append(path: Path, data: bytes, stream: str) -> None:
    """Append `data` to the file, on disk before returning; made (or kept) private to the user.

    Raises:
        DeadLetterError: the file cannot be written (the system's reason in the message).
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            mode = os.fstat(descriptor).st_mode
            regular = stat.S_ISREG(mode)
            if regular and mode & 0o077:  # a file from before, readable by others
                with contextlib.suppress(PermissionError):  # another user's: masked all the same
                    os.fchmod(descriptor, FILE_MODE)
            written = 0
            while written < len(data):
                written += os.write(descriptor, data[written:])
            if regular:  # a device (/dev/null) takes no fsync
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        msg = (
            f"dead_letter_path {path} cannot be written ({error.strerror or error}): the "
            f"records rejected on stream {stream!r} are not parked, so the run stops (the STATE "
            "was not advanced); free the disk or point dead_letter_path at a file this user "
            "can write"
        )
        raise DeadLetterError(msg) from None


def _masked(value: Any) -> Any:
    """`value` with every string in it (keys too) masked like the logs."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_masked(item) for item in value]
    if isinstance(value, dict):
        return {_masked(key): _masked(item) for key, item in value.items()}
    return value


def _line(stream: str, rejection: Rejection, at: str) -> str:
    try:
        record: Any = json.loads(rejection.record)
    except ValueError:
        record = rejection.record.decode("utf-8", "replace")
    entry = {
        "parked_at": at,
        "stream": stream,
        "reason": rejection.reason,
        "record": record,
        "lytics_answer": rejection.answer,
    }
    return json.dumps(_masked(entry), ensure_ascii=False) + "\n"
