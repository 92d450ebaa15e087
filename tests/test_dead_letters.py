"""Rejected records, whoever rejects them: found, parked with the reason, counted against a limit.

The sandbox's `reject_where` fault rejects every record holding a value, in dry runs too, as
Lytics' own validation would; a rejected record was stopping the pipeline for good (every run
re-sent the same batch and failed again). Records over Lytics' documented limits (16 KB in a
batch, 256 bytes for an identifier value) are rejected by the target itself, before sending,
and parked the same way. The file is private (0600) and masked like the logs, and a file that
cannot be written stops the run before any STATE passes what it should have held.
"""

from __future__ import annotations

import io
import json
import math
import stat
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from singer_sdk.exceptions import ConfigValidationError

from target_lytics.dead_letters import DeadLetterError, find_rejected
from target_lytics.errors import LyticsRejectedError
from target_lytics.settings import settings_from_config
from target_lytics.target import TargetLytics
from tests.hostile import HostileServer, Script, Seen
from tests.lytics_runs import (
    config,
    faults,
    printed_states,
    run_cli,
    run_target,
    session,
    singer_lines,
    stats,
    stored,
)

if TYPE_CHECKING:
    from pathlib import Path


def records(count: int, bad: set[int]) -> list[dict[str, Any]]:
    """Sessions 0..count-1; those in `bad` carry the visitor key the sandbox rejects."""
    return [
        session(i, org=f"org-{i}", visitor_key="vk-bad" if i in bad else f"vk-{i % 7}")
        for i in range(count)
    ]


def parked(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_rejected_record_is_parked_and_the_run_goes_on_past_it(lytics_sandbox, tmp_path, capsys):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    letters = tmp_path / "rejected.jsonl"
    cfg = config(
        lytics_sandbox, batch_size_rows=50, dead_letter_path=str(letters), max_rejected_records=1
    )
    run_target(cfg, singer_lines(records(120, bad={37}), state_every=60))

    assert printed_states(capsys.readouterr().out) == [{"sent": 120}]  # the STATE passes it
    orgs = sorted(event["record"]["org"] for event in stored(lytics_sandbox))
    assert orgs == sorted(f"org-{i}" for i in range(120) if i != 37)  # nothing stored twice
    (line,) = parked(letters)
    assert line["stream"] == "wistia_activity"
    assert line["record"]["org"] == "org-37"
    assert line["record"]["visitor_key"] == "vk-bad"
    assert line["lytics_answer"]["data"]["rejected_count"] == 1
    assert line["lytics_answer"]["data"]["dryrun"] is True
    counts = stats(lytics_sandbox)
    assert counts["records_stored"] == 119
    # Both halves of each group holding it, from the request of 50 down to the record.
    assert 2 <= counts["dryrun_requests"] <= 2 * math.ceil(math.log2(50))


@pytest.mark.e2e  # runs a process
def test_the_run_summary_counts_the_parked_records(lytics_sandbox, tmp_path):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=5)
    result = run_cli(cfg, singer_lines(records(40, bad={3, 30})), tmp_path)
    assert result.returncode == 0, result.stderr
    assert printed_states(result.stdout) == [{"sent": 40}]
    assert "Lytics accepted 38 records on stream 'wistia_activity' in 1 requests" in result.stderr
    assert "2 rejected records were parked in the dead-letter file" in result.stderr
    assert f"2 rejected records were parked in {letters}" in result.stderr
    assert sorted(line["record"]["org"] for line in parked(letters)) == ["org-3", "org-30"]


def test_past_max_rejected_records_the_run_fails_after_parking_and_prints_no_state(
    lytics_sandbox, tmp_path, capsys
):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=1)
    with pytest.raises(
        LyticsRejectedError, match=r"parked 2, more than max_rejected_records \(1\)"
    ):
        run_target(cfg, singer_lines(records(20, bad={4, 5})))
    assert printed_states(capsys.readouterr().out) == []
    assert len(parked(letters)) == 2  # there to look at all the same


def test_by_default_a_rejection_still_fails_the_run_and_is_written_when_a_file_is_set(
    lytics_sandbox, tmp_path, capsys
):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    letters = tmp_path / "rejected.jsonl"
    with pytest.raises(LyticsRejectedError, match=r"more than max_rejected_records \(0\)"):
        run_target(
            config(lytics_sandbox, dead_letter_path=str(letters)), singer_lines(records(9, {8}))
        )
    assert printed_states(capsys.readouterr().out) == []
    assert [line["record"]["org"] for line in parked(letters)] == ["org-8"]


def test_without_a_dead_letter_file_a_rejection_fails_as_before_and_says_how_to_go_on(
    lytics_sandbox, capsys
):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    with pytest.raises(LyticsRejectedError, match="rejected 1 of 9 records") as caught:
        run_target(config(lytics_sandbox), singer_lines(records(9, bad={0})))
    assert "set dead_letter_path and max_rejected_records" in str(caught.value)
    assert printed_states(capsys.readouterr().out) == []
    assert stats(lytics_sandbox)["dryrun_requests"] == 0  # nothing looked for


def test_a_rejection_no_dry_run_repeats_stops_the_run(lytics_sandbox, tmp_path, capsys):
    # A rejection the same records do not meet again: which ones Lytics dropped is unknown.
    faults(lytics_sandbox, reject_next=1, reject_count=1)
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=10)
    with pytest.raises(LyticsRejectedError, match="dry runs of them find only 0"):
        run_target(cfg, singer_lines(records(8, bad=set())))
    assert printed_states(capsys.readouterr().out) == []
    assert not letters.exists()


@pytest.mark.e2e  # runs a process
def test_the_next_run_goes_on_from_the_state_past_the_parked_record(lytics_sandbox, tmp_path):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=1)
    first = run_cli(cfg, singer_lines(records(10, bad={2})), tmp_path)
    assert first.returncode == 0, first.stderr
    # The tap resumes from that STATE: the next run's input no longer holds the bad record.
    later = [session(i, org=f"org-{i}") for i in range(10, 15)]
    second = run_cli(cfg, singer_lines(later), tmp_path)
    assert second.returncode == 0, second.stderr
    assert len(stored(lytics_sandbox)) == 14
    assert len(parked(letters)) == 1


# -- records over Lytics' limits: rejected before sending, parked the same way -------------------


@pytest.mark.e2e  # runs a process
def test_a_20_kb_record_is_parked_while_the_other_49_are_delivered_and_the_state_printed(
    lytics_sandbox, tmp_path
):
    # The issue's repro: one 20 KB note stopped the run, and every rerun.
    batch = [session(i, org=f"org-{i}") for i in range(50)]
    batch[17]["org"] = "x" * 20_000
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=1)
    result = run_cli(cfg, singer_lines(batch), tmp_path)
    assert result.returncode == 0, result.stderr
    assert printed_states(result.stdout) == [{"sent": 50}]
    assert len(stored(lytics_sandbox)) == 49
    assert stats(lytics_sandbox)["rejected"] == 0  # never sent: Lytics would have dropped it
    (line,) = parked(letters)
    assert line["record"]["org"] == "x" * 20_000
    assert "over Lytics' 16 KB per-record limit" in line["reason"]
    assert line["lytics_answer"] is None
    assert "Parked record session_id='ek-17' of stream 'wistia_activity'" in result.stderr
    assert stat.S_IMODE(letters.stat().st_mode) == 0o600


def test_an_identifier_over_256_bytes_is_parked_and_counted_with_lytics_rejections(
    lytics_sandbox, tmp_path, capsys
):
    faults(lytics_sandbox, reject_where={"visitor_key": "vk-bad"})
    batch = records(10, bad={4})
    batch[6]["email"] = "a" * 300 + "@example.com"
    letters = tmp_path / "rejected.jsonl"
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=2)
    run_target(cfg, singer_lines(batch))
    assert printed_states(capsys.readouterr().out) == [{"sent": 10}]
    reasons = {line["record"].get("org"): line["reason"] for line in parked(letters)}
    assert set(reasons) == {"org-4", "org-6"}
    assert "312-byte email" in reasons["org-6"]
    assert reasons["org-4"].startswith("Lytics rejected it")
    one = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=1)
    with pytest.raises(
        LyticsRejectedError, match=r"parked 2, more than max_rejected_records \(1\)"
    ):
        run_target(one, singer_lines(batch))  # both kinds count against the one limit
    assert printed_states(capsys.readouterr().out) == []


def echo_the_token_in_rejections(request: Seen) -> Script:
    """Lytics as a hostile server: rejects the records holding "bad", echoing the token back."""
    if request.path in {"/v2/account", "/api/account"}:
        return Script.json({"data": [{"id": "acct-h", "aid": 1}], "status": 200})
    sent = json.loads(request.body)
    bad = sum("bad" in json.dumps(record) for record in sent)
    said = f"rejected for {request.headers.get('Authorization')}"
    return Script.json(
        {
            "status": 200,
            "message": said,
            "data": {"message_count": len(sent), "rejected_count": bad},
        }
    )


def test_a_token_lytics_echoes_never_reaches_the_dead_letter_file(tmp_path):
    token = "at.parked-k3y-9f2e1"
    letters = tmp_path / "rejected.jsonl"
    batch = [session(i, org="bad" if i == 3 else f"org-{i}") for i in range(8)]
    with HostileServer(echo_the_token_in_rejections) as server:
        cfg = {
            "api_token": token,
            "api_url": server.url,
            "schema_mode": "off",
            "dead_letter_path": str(letters),
            "max_rejected_records": 1,
        }
        run_target(cfg, singer_lines(batch))
        assert any(request.query.get("dryrun") == "true" for request in server.requests)
    text = letters.read_text()
    assert token not in text
    (line,) = parked(letters)
    assert line["lytics_answer"]["message"] == "rejected for [redacted]"
    assert line["record"]["org"] == "bad"
    assert stat.S_IMODE(letters.stat().st_mode) == 0o600


def test_a_dead_letter_file_from_before_is_made_private(lytics_sandbox, tmp_path):
    letters = tmp_path / "rejected.jsonl"
    letters.write_text("")
    letters.chmod(0o644)
    cfg = config(lytics_sandbox, dead_letter_path=str(letters), max_rejected_records=1)
    run_target(cfg, singer_lines([session(1, org="x" * 20_000)]))
    assert stat.S_IMODE(letters.stat().st_mode) == 0o600
    assert len(parked(letters)) == 1


@pytest.mark.e2e  # runs a process
def test_a_full_disk_stops_the_run_with_one_line_naming_dead_letter_path_and_no_state(
    lytics_sandbox, tmp_path
):
    batch = [session(i) for i in range(5)] + [session(5, org="x" * 20_000)]
    cfg = config(lytics_sandbox, dead_letter_path="/dev/full", max_rejected_records=5)
    result = run_cli(cfg, singer_lines(batch, state_every=1), tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""  # no STATE, not even those of the records before it
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "dead_letter_path /dev/full cannot be written (No space left on device)" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_folder_gone_during_the_run_stops_it_naming_dead_letter_path(lytics_sandbox, tmp_path):
    folder = tmp_path / "letters"
    folder.mkdir()
    cfg = config(lytics_sandbox, dead_letter_path=str(folder / "r.jsonl"), max_rejected_records=5)
    target = TargetLytics(config=cfg)  # the settings are checked: the folder is there
    folder.rmdir()  # a volume unmounted, a folder cleaned up
    with pytest.raises(DeadLetterError, match=r"r.jsonl cannot be written \(No such file"):
        target.listen(io.StringIO(singer_lines([session(1, org="x" * 20_000)])))


# -- settings ------------------------------------------------------------------------------------


def problems(**settings: Any) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": "at.x.y", **settings})
    return caught.value.errors


def test_a_limit_without_a_file_to_park_in_is_refused_naming_both_settings(tmp_path):
    (problem,) = problems(max_rejected_records=5)
    assert problem.startswith("max_rejected_records: 5 lets a run go on past rejected records")
    assert "set dead_letter_path" in problem


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("missing/rejected.jsonl", "does not exist; create it"),
        (".", "is a folder; name a file in it"),
        ("", "must be a file path"),
    ],
)
def test_a_dead_letter_path_that_cannot_be_written_is_refused(tmp_path, where, expected):
    path = str(tmp_path / where) if where else where
    (problem,) = problems(dead_letter_path=path)
    assert problem.startswith("dead_letter_path: ")
    assert expected in problem


def test_a_usable_dead_letter_path_is_taken(tmp_path):
    chosen = settings_from_config(
        {
            "api_token": "at.x.y",
            "dead_letter_path": str(tmp_path / "r.jsonl"),
            "max_rejected_records": 3,
        }
    )
    assert (chosen.dead_letter_path, chosen.max_rejected_records) == (tmp_path / "r.jsonl", 3)


# -- finding them (pure) -------------------------------------------------------------------------


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))))
def test_find_rejected_names_exactly_the_rejected_records_in_order(case):
    count, bad = case
    batch = [str(i).encode() for i in range(count)]
    asked: list[int] = []

    def probe(some: list[bytes]) -> tuple[int, Any]:
        asked.append(len(some))
        rejected = sum(int(item) in bad for item in some)
        return rejected, {"rejected": rejected, "of": len(some)}

    found = find_rejected(batch, len(bad), {"first": True}, probe)
    assert [int(record) for record, _ in found] == sorted(bad)
    for _, answer in found:  # each with an answer about it alone
        assert answer in ({"rejected": 1, "of": 1}, {"first": True})
    # Each halving level asks about each record at most once.
    assert sum(asked) <= count * count.bit_length()
