"""An answer read whole, within a deadline and a size cap.

A socket timeout bounds each read, not the answer: a server trickling a byte every half
second, or a chunked body that never ends, holds a client for ever; and a body read whole into
memory can be gigabytes (or a small gzip bomb). `read_body` reads what each network read
brings (`read1`, so a trickle cannot make one call wait for a full chunk), counts the decoded
bytes and the time since the request left, and gives up past either bound.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import ReadTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import requests

MAX_ANSWER_BYTES: Final = 64 * 1024 * 1024
"""Far above any real answer (a page of 100 Wistia events is about 100 KB, a Lytics reply
under 1 KB), far below what would hurt the machine."""
_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read whole: what each plugin's rules judge (pure data, no socket)."""

    status: int
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """A 2xx."""
        return 200 <= self.status < 300  # noqa: PLR2004

    def json(self) -> Any:
        """The decoded body, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class AnswerError(Exception):
    """The answer could not be read whole."""


class AnswerTooSlowError(AnswerError):
    """The answer did not arrive whole before the deadline, or a read timed out (retriable)."""


class AnswerCutOffError(AnswerError):
    """The connection broke or the body ended early (retriable)."""


class AnswerTooLargeError(AnswerError):
    """The answer grew past the size cap, decoded; a retry would repeat it."""


def read_body(
    response: requests.Response,
    *,
    deadline: float,
    max_bytes: int = MAX_ANSWER_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """The decoded body of a response opened with `stream=True`; the response is closed after.

    `deadline` is a `clock()` time.

    Raises:
        AnswerTooSlowError: the deadline passed, or a read timed out, before the body ended.
        AnswerCutOffError: the connection broke or the body ended before its length.
        AnswerTooLargeError: the decoded body passed `max_bytes`.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            if clock() > deadline:
                msg = f"the answer was still arriving at the deadline ({size:,} bytes read)"
                raise AnswerTooSlowError(msg)
            chunk = raw.read1(_CHUNK, decode_content=True)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                msg = f"the answer passed {max_bytes:,} bytes (decoded) and was abandoned"
                raise AnswerTooLargeError(msg)
            chunks.append(chunk)
    except ReadTimeoutError:
        msg = f"a read timed out ({size:,} bytes read)"
        raise AnswerTooSlowError(msg) from None
    except TransportError as exc:
        msg = f"the connection broke after {size:,} bytes ({type(exc).__name__})"
        raise AnswerCutOffError(msg) from None
    finally:
        response.close()
    return b"".join(chunks)
