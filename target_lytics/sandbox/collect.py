"""Lytics' collect rules, pure: which records of a collect body are ingested, and why not.

The documented limits (10 MB bodies, 4 KB single records, 16 KB records in a batch, 256-byte
identifier values) and the refusal of arrays of objects; ``screen_records`` splits a decoded
body into storable events and rejections counted by reason, as ``rejected_count`` reports them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from target_lytics.sandbox.profiles import parse_event_time
from target_lytics.sandbox.replies import BadRequestError
from target_lytics.sandbox.store import NewEvent

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_BATCH_RECORD_BYTES = 16 * 1024
MAX_SINGLE_RECORD_BYTES = 4 * 1024
MAX_IDENTIFIER_BYTES = 256
_SURELY_SHORT_IDENTIFIER = MAX_IDENTIFIER_BYTES // 4  # characters: UTF-8 uses at most 4 bytes


class CollectError(BadRequestError):
    """A collect body Lytics refuses as a whole (HTTP 400)."""


@dataclass(slots=True)
class Screened:
    """The outcome of checking one collect body against Lytics' record rules."""

    received: int
    accepted: list[NewEvent] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_count(self) -> int:
        """How many records Lytics would not ingest."""
        return sum(self.rejected.values())


def screen_records(
    payload: Any,
    *,
    timestamp_field: str,
    arrival: int,
    identity_values: Callable[[Mapping[str, Any]], Iterable[Any]] | None = None,
    refused: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Screened:
    """Split a decoded collect body into storable events and rejections (counted by reason).

    ``identity_values`` gives the identifier values a record carries (through the account's
    published identifier mappings): Lytics rejects records whose values exceed 256 bytes.
    ``refused`` picks records to reject as invalid whatever they hold (the ``reject_where`` fault).

    Raises:
        CollectError: the body is neither a JSON object nor an array.
    """
    records: list[Any]
    if isinstance(payload, dict):
        records, limit = [payload], MAX_SINGLE_RECORD_BYTES
    elif isinstance(payload, list):
        records, limit = payload, MAX_BATCH_RECORD_BYTES
    else:
        msg = f"body must be a JSON object or an array of objects, not {type(payload).__name__}"
        raise CollectError(msg)
    screened = Screened(received=len(records))
    for record in records:
        if not isinstance(record, dict):
            screened.rejected["not_an_object"] += 1
            continue
        body = msgspec.json.encode(record)
        problem = record_problem(record, body, limit, identity_values)
        if problem is None and refused is not None and refused(record):
            problem = "reject_where"
        if problem:
            screened.rejected[problem] += 1
            continue
        event_time = parse_event_time(record.get(timestamp_field)) if timestamp_field else None
        moment = arrival if event_time is None else event_time
        screened.accepted.append(NewEvent(moment, body.decode()))
    return screened


def record_problem(
    record: Mapping[str, Any],
    body: bytes,
    limit: int,
    identity_values: Callable[[Mapping[str, Any]], Iterable[Any]] | None = None,
) -> str | None:
    """Why Lytics would reject this record (a short reason), or None when it is ingested."""
    if len(body) > limit:
        return "too_large"
    if (b"[{" in body or b",{" in body) and _holds_object_array(record):
        return "array_of_objects"
    for value in identity_values(record) if identity_values else ():
        if isinstance(value, str) and len(value) <= _SURELY_SHORT_IDENTIFIER:
            continue
        if len(str(value).encode()) > MAX_IDENTIFIER_BYTES:
            return "identifier_too_long"
    return None


def _holds_object_array(value: Any) -> bool:
    """Whether an object appears inside an array anywhere in ``value``."""
    if isinstance(value, dict):
        return any(_holds_object_array(item) for item in value.values())
    if isinstance(value, list):
        return any(isinstance(item, dict) or _holds_object_array(item) for item in value)
    return False
