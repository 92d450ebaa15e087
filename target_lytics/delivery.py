"""One sink batch on its way to one Lytics stream: one collect request at a time.

Records are added one by one, already JSON-encoded; a request leaves as soon as it holds
`rows_per_request` records (`batch_size_rows`) or the next record would take it past Lytics'
10 MB, and the caller waits for Lytics' answer before reading on, with no thread to start, stop
or signal. Measured at 100 ms of latency (`make bench`, figure 3), one request of 10,000 records
at a time delivers 21,500-21,900 records a second (eight requests of 1,000 in flight: 29,000),
twenty times what a Wistia account can produce.

What Lytics' collect answers decides what happens (`collect`): a 413 splits the request in
halves; a 2xx confirms its records only when it counts them all and rejects none; records
Lytics rejects are found with dry runs and parked (`dead_letters`), or stop the run. A batch
returns only once every one of its records was confirmed or parked, so the STATE that follows
never passes a record Lytics lacks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from target_lytics.answer import collect_counts, describe, request_id
from target_lytics.dead_letters import Rejection, find_rejected
from target_lytics.errors import LyticsRejectedError, LyticsRequestError, LyticsResponseError

if TYPE_CHECKING:
    from api_http.answers import Answer
    from target_lytics.client import LyticsClient
    from target_lytics.dead_letters import DeadLetters

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class CollectReport:
    """What it took to deliver a batch: counts for the sink's summary line."""

    records: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0
    parked: int = 0
    dry_runs: int = 0


class Delivery:
    """The records of one batch: sent as requests fill, the rest by `finish`."""

    def __init__(
        self,
        client: LyticsClient,
        dead_letters: DeadLetters,
        stream: str,
        timestamp_field: str | None,
        *,
        dryrun: bool,
    ) -> None:
        """Start empty; nothing is sent before the first request fills.

        With ``dryrun`` every collect carries ``dryrun=true``: Lytics validates and stores nothing.
        """
        self.stream = stream
        self.report = CollectReport()
        self._client = client
        self._dead_letters = dead_letters
        self._path = "/collect/json/" + quote(stream, safe="")
        self._params: dict[str, str] = {}
        if dryrun:
            self._params["dryrun"] = "true"
        if timestamp_field:
            self._params["timestamp_field"] = timestamp_field
        self._rows = client.settings.rows_per_request
        self._max_bytes = client.settings.max_request_bytes - 2  # the array's brackets
        self._buffer: list[bytes] = []
        self._buffer_bytes = 0
        self._retries_before = client.retries

    def add(self, record: bytes) -> None:
        """Queue one encoded record; a full request is sent now, and answered before returning.

        Raises:
            LyticsError: a request was not durably accepted (the message says why).
        """
        size = len(record) + 1  # the comma
        if self._buffer and self._buffer_bytes + size > self._max_bytes:
            self._send_buffer()
        self._buffer.append(record)
        self._buffer_bytes += size
        if len(self._buffer) >= self._rows:
            self._send_buffer()

    def finish(self) -> CollectReport:
        """Send what is left; return only once Lytics accepted (or parked) every record.

        Raises:
            LyticsError: some record was not durably accepted (nor parked).
        """
        if self._buffer:
            self._send_buffer()
        self.report.retries = self._client.retries - self._retries_before
        return self.report

    def _send_buffer(self) -> None:
        records, self._buffer, self._buffer_bytes = self._buffer, [], 0
        self.collect(records)

    def collect(self, records: list[bytes]) -> None:
        """Deliver records; a 413 splits them in halves, down to single records.

        Raises:
            LyticsError: some records were not durably accepted (nor parked).
        """
        pending = [records]
        while pending:
            part = pending.pop()
            what = f"{len(part)} records on stream {self.stream!r}"
            answer = self._post(part, what, self._params)
            self.report.requests += 1
            if answer.status == 413:  # noqa: PLR2004
                pending += self._halves(part, answer)
                logger.info("Lytics: %s too large (413), split in two", what)
                continue
            body = answer.json()
            rejected, counted = collect_counts(body, len(part))
            ref = f" (request_id {said})" if (said := request_id(body)) else ""
            if counted is not None and counted < len(part):
                msg = (
                    f"Lytics counted {counted} of {len(part)} records sent to stream "
                    f"{self.stream!r}{ref}; the rest are unconfirmed, so the run stops (the STATE "
                    "was not advanced)"
                )
                raise LyticsResponseError(msg)
            if rejected:
                self._park_rejected(part, rejected, body, f"{rejected} of {what}{ref}")
            self.report.records += len(part) - rejected

    def _post(self, records: list[bytes], what: str, params: dict[str, str]) -> Answer:
        body = b"[" + b",".join(records) + b"]"
        answer: Answer = self._client.request(
            "POST", self._path, what=what, params=params, body=body, passthrough=frozenset({413})
        )
        return answer

    def _halves(self, part: list[bytes], answer: Answer) -> list[list[bytes]]:
        if len(part) == 1:
            msg = (
                f"Lytics refused a single {len(part[0]) + 2}-byte record on stream "
                f"{self.stream!r} as too large ({describe(answer)}); shrink it through the mapping"
            )
            raise LyticsRequestError(msg)
        self.report.splits += 1
        half = len(part) // 2
        return [part[half:], part[:half]]  # the first half is sent first

    def _park_rejected(self, part: list[bytes], rejected: int, body: Any, where: str) -> None:
        """Find which records of `part` Lytics rejected, and park them in the dead-letter file.

        Lytics' answer only counts rejections. Halves of the request are sent again with
        `dryrun=true` (Lytics validates them as before and stores nothing, so the records it
        accepted the first time are not stored twice), down to single records.

        Raises:
            LyticsRejectedError: no dead-letter file is set, the rejected records cannot all be
                found, or parking them passes `max_rejected_records`.
        """
        if not self._dead_letters.keeps:
            msg = (
                f"Lytics rejected {where}: Lytics drops records over 16 KB, holding arrays of "
                "objects, with identifier values over 256 bytes, or that fail its validation; "
                "fix the data or the mapping, then rerun (the STATE was not advanced), or set "
                "dead_letter_path and max_rejected_records to park such records and go on"
            )
            raise LyticsRejectedError(msg)
        logger.warning("Lytics rejected %s; looking for them with dry runs", where)
        found = find_rejected(part, rejected, body, self._dry_run)
        if len(found) < rejected:
            msg = (
                f"Lytics rejected {where}, but dry runs of them find only {len(found)}: the "
                "others cannot be named, so the run stops (the STATE was not advanced; a later "
                "run resends them)"
            )
            raise LyticsRejectedError(msg)
        if len(found) > rejected:
            logger.warning(
                "Dry runs reject %d of the records where Lytics rejected %s; all %d are "
                "parked, though some may have been stored",
                len(found), where, len(found),
            )  # fmt: skip
        reason = "Lytics rejected it: rejected_count > 0 in its answer about this record alone"
        self._dead_letters.park(
            self.stream, [Rejection(record, reason, answer) for record, answer in found]
        )
        self.report.parked += len(found)

    def _dry_run(self, records: list[bytes]) -> tuple[int, Any]:
        what = f"a dry run of {len(records)} records on stream {self.stream!r}"
        answer = self._post(records, what, {**self._params, "dryrun": "true"})
        self.report.dry_runs += 1
        if not answer.ok:
            msg = (
                f"Lytics refused {what} while looking for the records it rejected: "
                f"{describe(answer)}"
            )
            raise LyticsRequestError(msg)
        found = answer.json()
        return collect_counts(found, len(records))[0], found
