"""The tap's writer: the SDK's bytes, flushed at STATE, and few writes under unbuffered stdout."""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from tap_wistia.tap import HELD_OUTPUT_BYTES, StateFlushingWriter, flush_output

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from singer_sdk.singerlib import Message


class RawOut(io.RawIOBase):
    """Stdout as `PYTHONUNBUFFERED=1` makes it: every write reaches the file at once.

    `most` caps the bytes one write takes, as a signal arriving mid-write does.
    """

    def __init__(self, most: int | None = None) -> None:
        self.data = bytearray()
        self.writes = 0
        self.most = most

    def writable(self) -> bool:
        return True

    def write(self, chunk: ReadableBuffer) -> int:
        taken = bytes(chunk)[: self.most] if self.most else bytes(chunk)
        self.data += taken
        self.writes += 1
        return len(taken)


class TextOut:
    """What `sys.stdout` is: text on top, `buffer` below (raw or buffered)."""

    def __init__(self, buffer: io.RawIOBase | io.BufferedIOBase) -> None:
        self.buffer = buffer
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        if isinstance(self.buffer, io.BufferedIOBase):
            self.buffer.flush()


def messages(records: int) -> list[Message]:
    """A schema, records with a STATE every 100, and a final STATE."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}}
    out: list[Message] = [SchemaMessage("s", schema, ["n"])]
    for number in range(records):
        out.append(RecordMessage("s", {"n": number, "s": "é" * 40}))
        if number % 100 == 99:
            out.append(StateMessage({"bookmarks": {"s": {"n": number}}}))
    out.append(StateMessage({"bookmarks": {"s": {"n": records}}}))
    return out


def sdk_bytes(sent: list[Message]) -> bytes:
    writer = MsgSpecWriter()
    return b"".join(bytes(writer.format_message(message)) for message in sent)


def write_all(monkeypatch: pytest.MonkeyPatch, out: TextOut, sent: list[Message]) -> None:
    monkeypatch.setattr(sys, "stdout", out)
    writer = StateFlushingWriter()
    for message in sent:
        writer.write_message(message)


@pytest.mark.parametrize("most", [None, 1000])
def test_unbuffered_stdout_gets_the_sdks_bytes_in_few_writes(
    monkeypatch: pytest.MonkeyPatch, most: int | None
) -> None:
    raw = RawOut(most)
    sent = messages(2000)
    write_all(monkeypatch, TextOut(raw), sent)
    expected = sdk_bytes(sent)
    assert bytes(raw.data) == expected
    states = sum(isinstance(message, StateMessage) for message in sent)
    if most is None:
        assert raw.writes <= states + len(expected) // HELD_OUTPUT_BYTES + 1
        assert raw.writes < len(sent) // 50


def test_every_state_reaches_unbuffered_stdout_with_everything_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = RawOut()
    monkeypatch.setattr(sys, "stdout", TextOut(raw))
    writer = StateFlushingWriter()
    record = RecordMessage("s", {"n": 1})
    state = StateMessage({"bookmarks": {"s": {"n": 1}}})
    writer.write_message(record)
    assert raw.data == b""  # held: no STATE claims it yet
    writer.write_message(state)
    assert bytes(raw.data) == sdk_bytes([record, state])
    writer.write_message(record)
    flush_output()  # at exit: the records no STATE claimed are written too
    assert bytes(raw.data) == sdk_bytes([record, state, record])


def test_buffered_stdout_is_written_as_given_and_flushed_at_each_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = io.BytesIO()
    out = TextOut(io.BufferedWriter(RawSink(target)))
    sent = messages(250)
    write_all(monkeypatch, out, sent)
    out.flush()
    assert target.getvalue() == sdk_bytes(sent)
    assert out.flushes == 1 + sum(isinstance(message, StateMessage) for message in sent)


class RawSink(io.RawIOBase):
    def __init__(self, target: io.BytesIO) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, chunk: ReadableBuffer) -> int:
        return self.target.write(chunk)
