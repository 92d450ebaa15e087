"""Singer messages in: the target's reader, which names the line of every input problem.

The SDK's msgspec reader, with three things added. A hook runs before the first line is read
(where the target checks its account and schema). Every problem with a line becomes one
`InputError` naming the line's number, its message type and stream, and what is wrong with it:
not JSON (and why: cut short, a lone UTF-16 surrogate), not a Singer message, a record that is
not an object or nests too deep, a BATCH whose file is missing. And a stop request (a signal)
ends the input between two lines (`stopping`).

JSON numbers are decoded as floats: Lytics stores numbers as 64-bit floats, so Decimals buy no
precision, and they cost ~30% of the decoding time.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_lytics.stopping import InputStoppedError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from target_lytics.stopping import StopRequest

logger = logging.getLogger(__name__)

_decode_message = msgspec.json.Decoder().decode
_SURROGATE_ESCAPE = re.compile(r"(\\+)u([dD][89a-fA-F][0-9a-fA-F]{2})")
_STREAM = re.compile(r'"stream"\s*:\s*"([^"\\]{1,200})"')
_QUOTED_CHARACTERS = 120


class InputError(InvalidInputLine):
    """A line the target cannot take: the message names the line, its stream and the problem."""


class LineRefusedError(Exception):
    """What is wrong with the message being handled (raised by a sink); the reader adds where."""


def lone_surrogate(line: str) -> str | None:
    r"""The first UTF-16 surrogate escape of `line` without its other half (`\ud800`), if any.

    JSON text may spell a character outside the Basic Multilingual Plane as two escapes (a high
    surrogate, then a low one); either one alone stands for no character, and no UTF-8 text can
    carry it. An escaped backslash (`\\ud800`) is no escape.
    """
    escapes = [
        (match.start(2) - 2, match.group(2).lower())
        for match in _SURROGATE_ESCAPE.finditer(line)
        if len(match.group(1)) % 2 == 1
    ]
    paired: set[int] = set()
    for (start, code), (next_start, next_code) in itertools.pairwise(escapes):
        if code < "dc00" <= next_code and next_start == start + 6:
            paired |= {start, next_start}
    for start, code in escapes:
        if start not in paired:
            return f"\\u{code}"
    return None


def json_problem(line: str, error: BaseException) -> str:
    """Why a line is not JSON, in words that point at the cause."""
    if isinstance(error, RecursionError):
        return "nests objects or arrays too deep to be decoded"
    escape = lone_surrogate(line)
    if escape is not None:
        return (
            f"holds a lone UTF-16 surrogate escape ({escape}), which stands for no character "
            "and which no UTF-8 text can carry: the program writing the input emitted a "
            "broken string"
        )
    start = " ".join(line.split())[:_QUOTED_CHARACTERS]
    if "truncated" in str(error):
        return f"ends before its JSON does (cut short?): {start!r}"
    return f"is not valid JSON ({error}): {start!r}"


def _where(number: int, kind: str | None, stream: Any) -> str:
    """`Input line 7 (RECORD of stream 'x')`: where a problem is, as far as it is known."""
    named = f"stream {stream!r}" if isinstance(stream, str) else ""
    what = f"{kind} of {named}" if kind and named else kind or named
    return f"Input line {number}" + (f" ({what})" if what else "")


class LyticsMessageReader(MsgSpecReader):
    """The SDK's msgspec reader, with a hook before the first line, line numbers and stops."""

    def __init__(self) -> None:
        """No hook and no stop request until the target sets them."""
        super().__init__()
        self.before_input: Callable[[], object] | None = None
        self.stop: StopRequest | None = None

    def process_lines(
        self, file_input: Any, callbacks: dict[str, Callable[[dict], None]]
    ) -> Counter[str]:
        """Run the hook, then read and dispatch every message as the SDK's reader does.

        Returns the count of messages by type. A stop request ends the input early (the lines
        not read are left to the next run).

        Raises:
            InputError: a line cannot be taken; its message says which and why.
        """
        if self.before_input is not None:
            self.before_input()
        counts: Counter[str] = Counter()
        number = 0
        try:
            for number, line in enumerate(self._lines(file_input or self.default_input), 1):
                message = self._message(number, line)
                kind = message["type"]
                callback = callbacks.get(kind)
                if callback is None:
                    msg = f"Input line {number} has the unknown message type {kind!r}"
                    raise InputError(msg)
                try:
                    callback(message)
                except LineRefusedError as problem:
                    msg = f"{_where(number, kind, message.get('stream'))}: {problem}"
                    raise InputError(msg) from None
                except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
                    if kind != "BATCH":
                        raise
                    raise InputError(_unreadable_batch(number, message, error)) from None
                counts[kind] += 1
        except InputStoppedError:
            logger.warning("Stopped reading input after line %d", number)
        return counts

    def _lines(self, source: Iterable[str]) -> Iterator[str]:
        """The input's lines until it ends or a stop is requested."""
        stop = self.stop
        if stop is None:
            yield from source
            return
        lines = iter(source)
        while stop.signum is None:
            stop.reading = True
            line = next(lines, None)
            stop.reading = False
            if line is None:
                return
            yield line
        raise InputStoppedError

    def _message(self, number: int, line: str) -> dict[str, Any]:
        """Line `number` as a Singer message (an object with a type; a record is an object)."""
        try:
            message: Any = _decode_message(line)
        except (msgspec.DecodeError, RecursionError) as error:
            found = _STREAM.search(line)
            where = _where(number, None, found.group(1) if found else None)
            msg = f"{where}: {json_problem(line, error)}"
            raise InputError(msg) from None
        if not isinstance(message, dict):
            kind = "array" if isinstance(message, list) else type(message).__name__
            msg = f"Input line {number} is a JSON {kind}, not a Singer message (an object)"
            raise InputError(msg)
        if "type" not in message:
            msg = f"Input line {number} is not a Singer message: it has no type"
            raise InputError(msg)
        record = message.get("record")
        if message["type"] == "RECORD" and record is not None and not isinstance(record, dict):
            kind = "array" if isinstance(record, list) else type(record).__name__
            where = _where(number, "RECORD", message.get("stream"))
            msg = f"{where}: its record is a JSON {kind}, not an object"
            raise InputError(msg)
        return message

    def deserialize_json(self, line: str) -> dict:
        """Decode one Singer message line (the SDK's entry point; this reader uses `_message`).

        Raises:
            InvalidInputLine: the line is not JSON.
        """
        try:
            return _decode_message(line)
        except (msgspec.DecodeError, RecursionError) as error:
            raise InvalidInputLine(json_problem(line, error)) from None


def _unreadable_batch(number: int, message: dict[str, Any], error: OSError) -> str:
    where = _where(number, "BATCH", message.get("stream"))
    name = error.filename or "one of its manifest's files"
    return (
        f"{where}: its file {name} cannot be read ({error.strerror or type(error).__name__}): "
        "the files a BATCH message names must exist where the target runs until it has read "
        "them"
    )
