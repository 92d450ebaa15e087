"""The Lytics sink: maps each record, hands it to the batch's delivery, confirms the batch.

A batch is one collect request of up to `batch_size_rows` records (more than one only when
Lytics' 10 MB would be passed), sent and answered before the next line is read (`delivery`).
`process_batch` raises if any record was neither durably accepted nor parked. The SDK prints a
STATE only after every sink's `process_batch` returned, so the bookmark never passes
undelivered records. A record Lytics is documented to drop (over 16 KB, an identifier value
over 256 bytes) is not sent: it is rejected here, as Lytics would, and parked like the records
Lytics rejects (`dead_letters`), or stops the run.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec
from singer_sdk.sinks import BatchSink

from target_lytics.dead_letters import Rejection
from target_lytics.delivery import Delivery
from target_lytics.errors import LyticsError
from target_lytics.mapping import RecordShapeError, dotted, lookup
from target_lytics.schema import unread_fields
from target_lytics.singer_input import LineRefusedError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.target_base import Target

    from target_lytics.mapping import Path
    from target_lytics.target import TargetLytics

#: Lytics' documented limits for a record in a batch (`POST /collect/json/{stream}`).
MAX_RECORD_BYTES: Final = 16 * 1024
MAX_IDENTIFIER_BYTES: Final = 256


class OversizeRecordError(LyticsError):
    """A record Lytics would reject for its size, and no dead-letter file to park it in."""


def oversize_problem(
    out: dict[str, Any], body: bytes, identity_paths: tuple[tuple[str, Path], ...] = ()
) -> str | None:
    """Why Lytics would reject this record for its size (None when it fits).

    Lytics answers such records only with a `rejected_count`, which names no record; checked
    here, the error can name the record's key. ``identity_paths`` say where the identifier
    values sit in the record (user field, stream field).
    """
    if len(body) > MAX_RECORD_BYTES:
        return (
            f"is {len(body):,} bytes as Lytics JSON, over Lytics' "
            f"{MAX_RECORD_BYTES // 1024} KB per-record limit"
        )
    for name, path in identity_paths:
        value = out.get(path[0]) if len(path) == 1 else lookup(out, path)
        # 64 characters are at most 256 bytes in UTF-8: only longer values need encoding.
        if isinstance(value, str) and len(value) > 64:  # noqa: PLR2004
            size = len(value.encode())
            if size > MAX_IDENTIFIER_BYTES:
                return (
                    f"has a {size}-byte {name} (stream field {dotted(path)}), over Lytics' "
                    f"{MAX_IDENTIFIER_BYTES}-byte limit for identifier values"
                )
    return None


def _encode_fallback(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class LyticsSink(BatchSink):
    """Writes one Singer stream to its Lytics stream."""

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Resolve where this stream goes and how its records map, once."""
        super().__init__(target, stream_name, schema, key_properties)
        lytics = cast("TargetLytics", target)
        # The account was checked when input started (here for any other reader); a mapped
        # stream has its schema step now, when its SCHEMA message arrives.
        checks = lytics.prepare_stream(stream_name)
        settings = lytics.lytics_settings
        self.plan = settings.plan(stream_name)
        self._client = lytics.lytics_client
        self._dead_letters = lytics.dead_letters
        self._rows_per_request = settings.client.rows_per_request
        self._skip_oversize = settings.skip_oversize_records
        self._encode = msgspec.json.Encoder(
            enc_hook=_encode_fallback, decimal_format="number"
        ).encode
        self._notes: Counter[str] = Counter()  # records worth a warning, by reason
        self._identity_paths = self.plan.identity_paths
        self.logger.info(
            "Stream %r goes to Lytics stream %r (%s, timestamp_field=%s)",
            stream_name,
            self.plan.lytics_stream,
            "mapped" if self.plan.mapping else "unmapped",
            self.plan.timestamp_field or "none: Lytics uses arrival time",
        )
        held = checks.account_schema() if self.plan.mapping is None else None
        if held is not None:
            names = sorted((schema.get("properties") or {}).keys())
            unread = unread_fields(self.plan.lytics_stream, names, held)
            if unread:
                self.logger.warning(
                    "Stream %r has no mapping in target-lytics' mapping setting: its records go "
                    "to the Lytics stream %r as they are, and no mapping of the account reads "
                    "its fields %s: they stay in the stream's events, off profiles (add the "
                    "stream to the mapping setting to make them user fields)",
                    stream_name,
                    self.plan.lytics_stream,
                    ", ".join(unread),
                )

    @property
    def max_size(self) -> int:
        """Records per batch: one request's worth (`batch_size_rows`)."""
        return self._rows_per_request

    def _validate_and_parse(self, record: dict) -> dict:
        """Validate only when `validate_records` asks for it; keep timestamps as sent.

        The SDK would parse every date-time string into a datetime, which Lytics then needs as a
        string again: slower, and the original text is what `timestamp_field` should carry.
        """
        if self._validator is not None:
            self._validator.validate(record)
        return record

    def _delivery(self) -> Delivery:
        return Delivery(
            self._client,
            self._dead_letters,
            self.plan.lytics_stream,
            self.plan.timestamp_field,
            dryrun=self._client.settings.dryrun,
        )

    def start_batch(self, context: dict) -> None:
        """Open this batch's delivery to Lytics."""
        context["delivery"] = self._delivery()

    def process_record(self, record: dict, context: dict) -> None:
        """Map the record and queue it; a full request leaves (and is answered) right away.

        Raises:
            LineRefusedError: the record cannot be sent as it is (the reader names its line).
        """
        self._deliver(record, context["delivery"])

    def _deliver(self, record: dict[str, Any], delivery: Delivery) -> None:
        plan = self.plan
        try:
            out = plan.to_lytics(record)
        except RecordShapeError as shape:
            raise LineRefusedError(str(shape)) from None
        if not out:
            self._notes["had no field with a value and were not sent"] += 1
            return
        if plan.timestamp_field and plan.timestamp_field not in out:
            self._notes[
                f"were sent without {plan.timestamp_field}: Lytics dates them on arrival"
            ] += 1
        body = self._encode(out)
        problem = oversize_problem(out, body, self._identity_paths)
        if problem is not None:
            self._reject(record, body, problem)
            return
        delivery.add(body)

    def _reject(self, record: dict[str, Any], body: bytes, problem: str) -> None:
        """A record Lytics would drop: parked, skipped (deprecated setting), or the run stops.

        Raises:
            OversizeRecordError: there is no dead-letter file to park it in.
        """
        where = self._record_key(record)
        dead_letters = self._dead_letters
        if dead_letters.keeps:
            reason = f"not sent: it {problem}"
            dead_letters.park(self.plan.lytics_stream, [Rejection(body, reason)])
            self._notes[f"were over Lytics' limits and parked in {dead_letters.path}"] += 1
            self.logger.warning(
                "Parked record %s of stream %r: it %s", where, self.stream_name, problem
            )
            return
        if self._skip_oversize:
            self._notes["were skipped as too large for Lytics"] += 1
            self.logger.warning("Skipped record %s: it %s", where, problem)
            return
        msg = (
            f"Record {where} of stream {self.stream_name!r} {problem}: set dead_letter_path "
            "and max_rejected_records to park such records with the reason and go on, or leave "
            "large fields out through the mapping setting (the STATE was not advanced)"
        )
        raise OversizeRecordError(msg)

    def _record_key(self, record: dict[str, Any]) -> str:
        if self.key_properties:
            return ", ".join(f"{key}={record.get(key)!r}" for key in self.key_properties)
        return f"#{self._total_records_read} (the stream has no key properties)"

    def process_batch(self, context: dict) -> None:
        """Return only once Lytics durably accepted every record of the batch.

        Raises:
            LyticsError: some record was refused, rejected or could not be delivered.
        """
        delivery: Delivery | None = context.get("delivery")
        if delivery is None:  # a BATCH message's records arrive here without process_record
            delivery = self._delivery()
            for record in context.get("records", []):
                self._deliver(record, delivery)
        report = delivery.finish()
        self.logger.info(
            "Lytics accepted %d records on stream %r in %d requests (%d retries, %d splits)%s",
            report.records,
            self.plan.lytics_stream,
            report.requests,
            report.retries,
            report.splits,
            f"; {report.parked} rejected records were parked in the dead-letter file "
            f"({report.dry_runs} dry runs to find them)"
            if report.parked
            else "",
        )
        for reason, count in sorted(self._notes.items()):
            self.logger.warning("%d records of stream %r %s", count, self.stream_name, reason)
        self._notes.clear()
