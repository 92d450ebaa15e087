"""Hand-written Singer input the target cannot take: one clear line naming where, exit 1.

Each case feeds the `target-lytics` CLI a SCHEMA, a good RECORD and a STATE, then the bad line,
then a STATE that must never be printed. The error names the input line, its message type and
stream, and what is wrong, with no traceback; the Lytics sandbox runs over real HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from target_lytics.mapping import MAX_NESTING
from target_lytics.singer_input import lone_surrogate
from tests.lytics_runs import ACTIVITY_SCHEMA, config, printed_states, run_cli, session

ORDERS_SCHEMA = {
    "type": "SCHEMA",
    "stream": "orders",
    "key_properties": ["id"],
    "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"inner": value}
    return value


def order(number: int, **fields: Any) -> str:
    return json.dumps({"type": "RECORD", "stream": "orders", "record": {"id": number, **fields}})


def feed(bad_line: str, schema: dict[str, Any] = ORDERS_SCHEMA) -> str:
    """Line 1 SCHEMA, 2 a good record, 3 a STATE, 4 the bad line, 5 a later STATE."""
    good = (
        order(1)
        if schema is ORDERS_SCHEMA
        else json.dumps({"type": "RECORD", "stream": "wistia_activity", "record": session(1)})
    )
    lines = [
        json.dumps(schema),
        good,
        json.dumps({"type": "STATE", "value": {"line": 3}}),
        bad_line,
        json.dumps({"type": "STATE", "value": {"line": 5}}),
    ]
    return "\n".join(lines) + "\n"


def assert_one_clear_error(result, expected: str) -> None:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0], errors[0]
    assert "Traceback" not in result.stderr
    assert {"line": 5} not in printed_states(result.stdout)


@pytest.mark.e2e  # runs a process
def test_objects_nested_500_levels_deep_are_named_not_a_recursion_error(lytics_sandbox, tmp_path):
    result = run_cli(config(lytics_sandbox), feed(order(2, detail=nested(500))), tmp_path)
    assert_one_clear_error(
        result,
        "Input line 4 (RECORD of stream 'orders'): nests objects or arrays more than "
        f"{MAX_NESTING} levels deep",
    )


@pytest.mark.e2e  # runs a process
def test_objects_nested_deeper_than_the_decoder_goes_are_named_too(lytics_sandbox, tmp_path):
    deep = '{"inner": ' * 5000 + "1" + "}" * 5000  # past what json.dumps itself can write
    bad = f'{{"type": "RECORD", "stream": "orders", "record": {{"id": 2, "detail": {deep}}}}}'
    result = run_cli(config(lytics_sandbox), feed(bad), tmp_path)
    assert_one_clear_error(
        result, "Input line 4 (stream 'orders'): nests objects or arrays too deep to be decoded"
    )


@pytest.mark.e2e  # runs a process
def test_objects_nested_as_deep_as_allowed_are_sent(lytics_sandbox, tmp_path):
    text = "\n".join([json.dumps(ORDERS_SCHEMA), order(1, detail=nested(MAX_NESTING - 1))])
    result = run_cli(config(lytics_sandbox), text + "\n", tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e  # runs a process
@pytest.mark.parametrize(("record", "kind"), [([1, 2], "array"), ("text", "str"), (7, "int")])
def test_a_record_that_is_not_an_object_is_named_not_a_type_error(
    lytics_sandbox, tmp_path, record, kind
):
    bad = json.dumps({"type": "RECORD", "stream": "orders", "record": record})
    result = run_cli(config(lytics_sandbox), feed(bad), tmp_path)
    assert_one_clear_error(
        result,
        f"Input line 4 (RECORD of stream 'orders'): its record is a JSON {kind}, not an object",
    )


@pytest.mark.e2e  # runs a process
def test_a_batch_whose_file_is_missing_is_named_not_a_file_not_found_error(
    lytics_sandbox, tmp_path
):
    missing = tmp_path / "activity-0001.jsonl"
    batch = {
        "type": "BATCH",
        "stream": "wistia_activity",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [missing.as_uri()],
    }
    result = run_cli(config(lytics_sandbox), feed(json.dumps(batch), ACTIVITY_SCHEMA), tmp_path)
    assert_one_clear_error(
        result,
        f"Input line 4 (BATCH of stream 'wistia_activity'): its file {missing} cannot be read "
        "(No such file or directory)",
    )


@pytest.mark.e2e  # runs a process
def test_a_lone_surrogate_is_named_as_such_not_as_truncated_input(lytics_sandbox, tmp_path):
    bad = '{"type": "RECORD", "stream": "orders", "record": {"id": 2, "name": "x\\ud800"}}'
    result = run_cli(config(lytics_sandbox), feed(bad), tmp_path)
    assert_one_clear_error(
        result, "Input line 4 (stream 'orders'): holds a lone UTF-16 surrogate escape (\\ud800)"
    )
    assert "truncated" not in result.stderr


@pytest.mark.e2e  # runs a process
def test_a_line_cut_short_says_so(lytics_sandbox, tmp_path):
    result = run_cli(
        config(lytics_sandbox),
        feed('{"type": "RECORD", "stream": "orders", "record": {"id": 2'),
        tmp_path,
    )
    assert_one_clear_error(result, "Input line 4 (stream 'orders'): ends before its JSON does")


@pytest.mark.e2e  # runs a process
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[1, 2]", "Input line 4 is a JSON array, not a Singer message"),
        ('{"stream": "orders"}', "Input line 4 is not a Singer message: it has no type"),
        ('{"type": "RECROD"}', "Input line 4 has the unknown message type 'RECROD'"),
    ],
)
def test_a_line_that_is_no_singer_message_is_named(lytics_sandbox, tmp_path, line, expected):
    assert_one_clear_error(run_cli(config(lytics_sandbox), feed(line), tmp_path), expected)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('"x\\ud800"', "\\ud800"),
        ('"\\udc00x"', "\\udc00"),
        ('"\\ud83d\\ude00 and \\uDBFF"', "\\udbff"),
        ('"\\ud83d\\ude00"', None),  # a pair: one character
        ('"\\\\ud800"', None),  # an escaped backslash, then text
        ('"\\\\\\ud800"', "\\ud800"),  # an escaped backslash, then an escape
    ],
)
def test_lone_surrogates_are_told_from_pairs_and_from_escaped_backslashes(text, found):
    assert lone_surrogate(text) == found
