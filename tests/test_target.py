"""target-lytics over real HTTP against the Lytics sandbox: delivery, failures, STATE, profiles."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from target_lytics.account import LyticsAccountError
from target_lytics.client import (
    LyticsAuthError,
    LyticsRejectedError,
    LyticsRequestError,
    LyticsUnavailableError,
    backoff_delay,
    retry_after_seconds,
)
from target_lytics.sandbox.server import LyticsSandbox
from target_lytics.sinks import OversizeRecordError
from target_lytics.target import TargetLytics, settings_from_config

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "sandbox-lytics-token"
SECRET_TOKEN = "at.k3y.s3cr3t-do-not-log"
WRONG_TOKEN = "at.wrong.token"
EXPIRED_TOKEN = "at.expired.token"
ACTIVITY_SCHEMA = {
    "type": "SCHEMA",
    "stream": "wistia_activity",
    "key_properties": ["session_id"],
    "schema": {
        "type": "object",
        "properties": {
            "session_id": {"type": "string"},
            "visitor_key": {"type": "string"},
            "media_id": {"type": "string"},
            "media_name": {"type": ["string", "null"]},
            "percent_viewed": {"type": ["number", "null"]},
            "duration_viewed": {"type": ["number", "null"]},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time"},
            "country": {"type": ["string", "null"]},
            "region": {"type": ["string", "null"]},
            "city": {"type": ["string", "null"]},
            "org": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "first_name": {"type": ["string", "null"]},
            "last_name": {"type": ["string", "null"]},
        },
    },
}


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[LyticsSandbox]:
    with LyticsSandbox(
        db_path=tmp_path / "lytics.db", tokens={TOKEN: "acct-sandbox", SECRET_TOKEN: "acct-2"}
    ) as server:
        yield server


def faults(sandbox: LyticsSandbox, **settings: Any) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=settings, timeout=5).raise_for_status()


def stats(sandbox: LyticsSandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()


def stored(sandbox: LyticsSandbox, stream: str = "wistia_activity") -> list[dict[str, Any]]:
    url = f"{sandbox.url}/_sandbox/streams/{stream}/events"
    return requests.get(url, params={"limit": 10_000}, timeout=5).json()["events"]


def config(sandbox: LyticsSandbox, **settings: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "api_url": sandbox.url,
        "retry_backoff_seconds": 0.01,
        "request_timeout": 5,
        **settings,
    }


def session(i: int, **fields: Any) -> dict[str, Any]:
    record = {
        "session_id": f"ek-{i}",
        "visitor_key": f"vk-{i % 7}",
        "media_id": f"m-{i % 3}",
        "media_name": f"Video {i % 3}",
        "percent_viewed": 0.5,
        "duration_viewed": 30.0,
        "started_at": "2025-10-17T17:00:00.000000Z",
        "ended_at": f"2025-10-17T17:{i % 60:02d}:00.000000Z",
        "country": "US",
        "region": "Oregon",
        "city": "Portland",
        "org": "Acme",
        "email": None,
        "first_name": None,
        "last_name": None,
    }
    record.update(fields)
    return record


def singer_lines(records: list[dict[str, Any]], *, state_every: int = 0) -> str:
    lines = [json.dumps(ACTIVITY_SCHEMA)]
    for i, record in enumerate(records, start=1):
        lines.append(json.dumps({"type": "RECORD", "stream": "wistia_activity", "record": record}))
        if state_every and i % state_every == 0:
            lines.append(json.dumps({"type": "STATE", "value": {"sent": i}}))
    lines.append(json.dumps({"type": "STATE", "value": {"sent": len(records)}}))
    return "\n".join(lines) + "\n"


def run_target(cfg: dict[str, Any], text: str) -> None:
    target = TargetLytics(config=cfg)
    target.listen(io.StringIO(text))


def printed_states(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def run_cli(cfg: dict[str, Any], text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(cfg))
    return subprocess.run(
        [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- delivery ---------------------------------------------------------------------------------


def test_every_record_reaches_lytics_mapped_and_dated_by_ended_at(sandbox, capsys):
    records = [session(i) for i in range(2500)]
    run_target(config(sandbox, batch_size_rows=1000), singer_lines(records))

    events = stored(sandbox)
    assert len(events) == 2500
    by_visitor_time = {(e["record"]["visitor_key"], e["event_time"]) for e in events}
    assert ("vk-1", "2025-10-17T17:01:00.000000Z") in by_visitor_time
    sample = next(e for e in events if e["record"]["visitor_key"] == "vk-1")
    assert sample["event_time"].startswith(sample["record"]["ended_at"][:19])
    # The source fields, named as Lytics' own Wistia import names them: the account's mappings
    # read these (no user-field names, no session_id, started_at or blanks).
    assert set(sample["record"]) == {
        "country",
        "region",
        "city",
        "org",
        "percent_viewed",
        "duration_viewed",
        "media_name",
        "media_id",
        "visitor_key",
        "ended_at",
    }
    counts = stats(sandbox)
    assert counts["collect_requests"] == 3  # 1000 + 1000 + 500
    assert counts["legacy_query_token"] == 0  # the token only ever travels in the header
    assert printed_states(capsys.readouterr().out) == [{"sent": 2500}]


def test_requests_stay_within_lytics_limits_and_hold_many_records(sandbox):
    records = [session(i, org="x" * 3000) for i in range(4000)]
    run_target(config(sandbox, batch_size_rows=5000), singer_lines(records))
    counts = stats(sandbox)
    assert counts["records_stored"] == 4000
    assert counts["max_body_bytes"] <= 10 * 1024 * 1024
    assert counts["collect_requests"] == 2  # ~13 MB of records: the byte limit splits them


def test_several_requests_are_in_flight_at_once(sandbox):
    target = TargetLytics(config=config(sandbox, batch_size_rows=1000, max_requests_in_flight=4))
    target.prepare()  # the account and schema check, before the slow answers start
    # Each answer takes 800 ms: long enough, even on a loaded machine, for four to be out at once.
    faults(sandbox, latency_ms=800)
    target.listen(io.StringIO(singer_lines([session(i) for i in range(6000)])))
    counts = stats(sandbox)
    assert counts["records_stored"] == 6000
    assert counts["collect_requests"] == 6
    assert counts["max_requests_in_flight"] == 4  # as many as allowed, and never more


def test_dry_run_sends_dryrun_on_every_request_and_stores_nothing(sandbox):
    run_target(config(sandbox, dryrun=True, batch_size_rows=100), singer_lines([session(1)] * 250))
    counts = stats(sandbox)
    assert counts["collect_requests"] == 3
    assert counts["dryrun_requests"] == 3
    assert counts["records_stored"] == 0
    assert stored(sandbox) == []


def test_stream_setting_redirects_records_and_the_mappings_they_need(sandbox):
    cfg = config(sandbox, stream="videos", schema_mode="apply")
    run_target(cfg, singer_lines([session(1, email="vid@example.com")]))
    assert len(stored(sandbox, "videos")) == 1
    assert stored(sandbox) == []
    schema = requests.get(f"{sandbox.url}/_sandbox/accounts/acct-sandbox/schema", timeout=5)
    streams = {mapping["stream"] for mapping in schema.json()["mappings"]}
    assert streams == {"wistia_activity", "videos"}  # the import's, and the ones added for videos
    profile = requests.get(
        f"{sandbox.url}/api/entity/user/email/vid@example.com",
        headers={"Authorization": TOKEN},
        timeout=5,
    ).json()["data"]
    assert profile["wistia_city"] == "Portland"


def test_account_id_is_passed_through_and_must_be_the_tokens(sandbox):
    run_target(config(sandbox, account_id="acct-sandbox"), singer_lines([session(1)]))
    assert len(stored(sandbox)) == 1
    with pytest.raises(LyticsAccountError, match=r"account_id 'acct-other' is not among") as caught:
        run_target(config(sandbox, account_id="acct-other"), singer_lines([session(1)]))
    assert "acct-sandbox (aid 1234, Sandbox Account acct-sandbox)" in str(caught.value)


def test_unmapped_stream_with_arrays_of_objects_is_accepted(sandbox):
    lines = [
        {
            "type": "SCHEMA",
            "stream": "orders",
            "key_properties": ["id"],
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
        {
            "type": "RECORD",
            "stream": "orders",
            "record": {"id": 1, "lines": [{"sku": "a"}, {"sku": "b"}], "note": "", "tags": ["x"]},
        },
    ]
    run_target(config(sandbox), "\n".join(json.dumps(line) for line in lines) + "\n")
    events = stored(sandbox, "orders")
    assert [e["record"] for e in events] == [
        {"id": 1, "lines": {"0": {"sku": "a"}, "1": {"sku": "b"}}, "tags": ["x"]}
    ]
    assert stats(sandbox)["rejected"] == 0


def test_batch_messages_are_delivered_too(sandbox, tmp_path, capsys):
    batch_file = tmp_path / "activity-0001.jsonl"
    batch_file.write_text("".join(json.dumps(session(i)) + "\n" for i in range(120)))
    lines = [
        ACTIVITY_SCHEMA,
        {
            "type": "BATCH",
            "stream": "wistia_activity",
            "encoding": {"format": "jsonl", "compression": "none"},
            "manifest": [batch_file.as_uri()],
        },
        {"type": "STATE", "value": {"batch": 1}},
    ]
    run_target(config(sandbox, batch_size_rows=50), "".join(json.dumps(m) + "\n" for m in lines))
    assert len(stored(sandbox)) == 120
    assert stats(sandbox)["collect_requests"] == 3
    assert printed_states(capsys.readouterr().out) == [{"batch": 1}]


# --- transient failures -----------------------------------------------------------------------


def test_429_and_5xx_are_retried_without_loss_or_duplicates(sandbox, caplog):
    faults(sandbox, fail_next=[429, 503, 500, 502])
    run_target(config(sandbox, batch_size_rows=100), singer_lines([session(i) for i in range(300)]))
    assert len(stored(sandbox)) == 300
    by_status = stats(sandbox)["by_status"]
    assert by_status["429"] == by_status["503"] == by_status["500"] == by_status["502"] == 1
    assert sum("retry" in r.getMessage() for r in caplog.records) == 4


def test_retry_after_is_honoured(sandbox):
    faults(sandbox, fail_next=[429], retry_after=0.4)
    started = time.monotonic()
    run_target(config(sandbox), singer_lines([session(1)]))  # backoff alone would wait 0.01 s
    assert time.monotonic() - started >= 0.4
    assert len(stored(sandbox)) == 1


def test_timeouts_and_resets_are_retried(sandbox):
    faults(sandbox, timeout_next=1, timeout_seconds=3, reset_next=1)
    run_target(
        config(sandbox, request_timeout=0.5, batch_size_rows=50),
        singer_lines([session(i) for i in range(100)]),
    )
    assert len(stored(sandbox)) == 100


def test_413_splits_the_request(sandbox):
    faults(sandbox, fail_next=[413])
    run_target(config(sandbox, batch_size_rows=500), singer_lines([session(i) for i in range(500)]))
    assert len(stored(sandbox)) == 500
    counts = stats(sandbox)
    assert counts["collect_requests"] == 2  # the two halves; the 413 stored nothing
    assert counts["by_status"]["413"] == 1


def test_exhausted_retries_stop_the_run_before_its_state(sandbox, capsys):
    faults(sandbox, fail_next=[503, 503, 503])
    with pytest.raises(LyticsUnavailableError, match=r"after 3 attempts \(last: HTTP 503"):
        run_target(config(sandbox, max_retries=2), singer_lines([session(1)]))
    assert printed_states(capsys.readouterr().out) == []


# --- refusals: the run stops and its STATE is not printed --------------------------------------


def test_rejected_records_stop_the_run_and_no_state_is_printed(sandbox, capsys):
    faults(sandbox, reject_next=1, reject_count=1)
    records = [session(i) for i in range(30)]
    with pytest.raises(LyticsRejectedError, match="rejected 1 of 10 records"):
        run_target(config(sandbox, batch_size_rows=10), singer_lines(records, state_every=10))
    assert printed_states(capsys.readouterr().out) == []


def test_400_stops_the_run_with_lytics_message(sandbox, capsys):
    faults(sandbox, fail_next=[400])
    with pytest.raises(LyticsRequestError, match="HTTP 400"):
        run_target(config(sandbox), singer_lines([session(1)]))
    assert printed_states(capsys.readouterr().out) == []
    assert stats(sandbox)["collect_requests"] == 0  # not retried


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_mid_run_is_not_retried(sandbox, status):
    faults(sandbox, fail_next=[status])
    with pytest.raises(LyticsAuthError, match=f"HTTP {status}"):
        run_target(config(sandbox), singer_lines([session(1)]))
    assert stats(sandbox)["by_status"][str(status)] == 1


class WatchedInput(io.StringIO):
    """Input that counts the lines the target reads from it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines_read = 0

    def __next__(self) -> str:
        line = super().__next__()
        self.lines_read += 1
        return line


@pytest.mark.parametrize(
    ("token", "message"), [(WRONG_TOKEN, "HTTP 401 Unauthorized"), (EXPIRED_TOKEN, "Expired Token")]
)
def test_bad_and_expired_tokens_fail_before_any_input_is_read(sandbox, token, message):
    target = TargetLytics(config=config(sandbox, api_token=token))  # contacts nothing
    assert stats(sandbox)["requests"] == 0
    watched = WatchedInput(singer_lines([session(1)]))
    with pytest.raises(LyticsAuthError, match=message):
        target.listen(watched)
    assert watched.lines_read == 0
    assert stats(sandbox)["collect_requests"] == 0


def test_creating_the_target_and_about_need_no_network(tmp_path):
    unreachable = {"api_token": TOKEN, "api_url": "http://127.0.0.1:9", "max_retries": 0}
    target = TargetLytics(config=unreachable)  # no request: nothing listens on port 9
    assert target.preflight is None
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(unreachable))
    about = subprocess.run(
        [sys.executable, "-m", "target_lytics", "--about", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert about.returncode == 0, about.stderr
    assert "schema_mode" in about.stdout


def test_oversize_record_fails_with_its_key(sandbox):
    records = [session(1), session(2, org="x" * 17_000)]
    with pytest.raises(OversizeRecordError, match=r"session_id='ek-2'.*16 KB per-record limit"):
        run_target(config(sandbox), singer_lines(records))


def test_oversize_identifier_fails_with_its_key(sandbox):
    records = [session(1, email="a" * 250 + "@example.com")]
    with pytest.raises(OversizeRecordError, match=r"session_id='ek-1'.*262-byte email"):
        run_target(config(sandbox), singer_lines(records))


def test_oversize_records_can_be_skipped_and_counted(sandbox, caplog):
    records = [
        session(1),
        session(2, org="x" * 17_000),
        session(3, visitor_key="v" * 300),
        session(4, email="é" * 100),  # 100 characters, 200 bytes: fine
    ]
    run_target(config(sandbox, skip_oversize_records=True), singer_lines(records))
    assert len(stored(sandbox)) == 2
    messages = [record.getMessage() for record in caplog.records]
    assert "2 records of stream 'wistia_activity' were skipped as too large for Lytics" in messages


def test_token_never_appears_in_logs_urls_or_errors(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    faults(sandbox, fail_next=[503, 400])
    with pytest.raises(LyticsRequestError) as caught:
        run_target(config(sandbox, api_token=SECRET_TOKEN), singer_lines([session(1)]))
    assert SECRET_TOKEN not in str(caught.value)
    assert all(SECRET_TOKEN not in record.getMessage() for record in caplog.records)
    assert stats(sandbox)["legacy_query_token"] == 0


# --- the CLI: one clear line, no traceback ------------------------------------------------------


def test_cli_bad_token_exits_with_one_line(sandbox, tmp_path):
    result = run_cli(config(sandbox, api_token=WRONG_TOKEN), "", tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "refused the api_token" in errors[0]
    assert "Traceback" not in result.stderr


def test_cli_rejection_prints_no_state_and_no_traceback(sandbox, tmp_path):
    faults(sandbox, reject_next=1, reject_count=2)
    result = run_cli(config(sandbox), singer_lines([session(i) for i in range(5)]), tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "Lytics rejected 2 of 5 records" in result.stderr


# --- settings -----------------------------------------------------------------------------------


def _problems(**settings: Any) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": "at.x.y", **settings})
    return caught.value.errors


def test_settings_defaults():
    settings = settings_from_config({"api_token": "at.x.y"})
    assert settings.client.api_url == "https://api.lytics.io"
    assert settings.client.rows_per_request >= 500
    assert settings.mappings["wistia_activity"].timestamp_field == "ended_at"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"api_url": "http://api.lytics.io"}, "api_url: http://api.lytics.io would send the token"),
        ({"api_url": "ftp://x"}, "api_url: not an http(s) URL"),
        ({"api_url": "https://api.lytics.io?access_token=zz"}, "api_url: remove the query string"),
        ({"api_url": "https://u:p@api.lytics.io"}, "api_url: remove the credentials"),
        ({"api_token": " "}, "api_token: empty"),
        ({"api_token": "Bearer at.x.y"}, "api_token: drop the 'Bearer ' prefix"),
        ({"api_token": "at.x\n.y"}, "api_token: contains spaces or line breaks"),
        ({"stream": " "}, "stream: must be a non-empty string"),
        ({"schema_mode": "fix"}, "schema_mode: 'fix' is not one of check, apply, off"),
        (
            {"mapping": {"wistia_activity": {"fields": {"x": {"as": "set"}}}}},
            "mapping.wistia_activity",
        ),
    ],
)
def test_settings_problems_name_the_setting_and_the_fix(settings, expected):
    problems = _problems(**settings)
    assert any(problem.startswith(expected) for problem in problems), problems
    assert all("zz" not in problem and "u:p" not in problem for problem in problems)


def test_all_settings_problems_are_reported_together():
    problems = _problems(api_token="", api_url="http://example.com", stream="")
    assert len(problems) == 3


@pytest.mark.parametrize("url", ["http://127.0.0.1:8702", "http://localhost:1", "http://[::1]:80"])
def test_plain_http_is_fine_for_loopback(url):
    assert settings_from_config({"api_token": "at.x.y", "api_url": url}).client.api_url == url


def test_json_schema_validation_runs_first(sandbox):
    with pytest.raises(ConfigValidationError):
        TargetLytics(config=config(sandbox, batch_size_rows=0))


# --- backoff rules (pure) -----------------------------------------------------------------------


def test_backoff_grows_exponentially_with_bounded_jitter():
    assert backoff_delay(0, 1.0, lambda: 0.0) == 0.5
    assert backoff_delay(0, 1.0, lambda: 1.0) == 1.0
    assert backoff_delay(3, 1.0, lambda: 0.0) == 4.0
    assert backoff_delay(20, 1.0, lambda: 1.0) == 60.0


def test_retry_after_reads_seconds_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("99999", now) == 300.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


# --- the profile Lytics builds ------------------------------------------------------------------


def test_anonymous_sessions_merge_into_the_converted_profile(sandbox):
    """Two anonymous sessions, then a conversion with an email, sent out of time order."""
    first = session(
        1,
        visitor_key="vk-ann",
        media_id="m-intro",
        media_name="Intro",
        percent_viewed=0.4,
        duration_viewed=24.0,
        city="Portland",
        ended_at="2025-10-17T09:00:00.000000Z",
    )
    second = session(
        2,
        visitor_key="vk-ann",
        media_id="m-demo",
        media_name="Demo",
        percent_viewed=0.9,
        duration_viewed=270.0,
        city="Seattle",
        ended_at="2025-10-17T11:00:00.000000Z",
    )
    converted = session(
        3,
        visitor_key="vk-ann",
        media_id="m-intro",
        media_name="Intro",
        percent_viewed=1.0,
        duration_viewed=60.0,
        city="Boise",
        ended_at="2025-10-17T10:00:00.000000Z",
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
    )
    run_target(config(sandbox), singer_lines([second, converted, first]))

    answer = requests.get(
        f"{sandbox.url}/api/entity/user/email/ann@example.com",
        headers={"Authorization": TOKEN},
        timeout=5,
    ).json()
    profile = answer["data"]
    assert profile["email"] == "ann@example.com"
    assert profile["first_name"] == "Ann"
    assert profile["last_name"] == "Lee"
    assert profile["wistia_visitor_key"] == "vk-ann"
    assert sorted(profile["wisita_media_ids"]) == ["m-demo", "m-intro"]
    assert sorted(profile["wistia_media_names"]) == ["Demo", "Intro"]
    # Per media, the latest session by ended_at wins: the 10:00 conversion for the intro.
    assert profile["wisita_media_percent"] == {"m-intro": 1.0, "m-demo": 0.9}
    assert profile["wistia_media_duation"] == {"m-intro": 60.0, "m-demo": 270.0}
    # "Last viewed" scalars come from the newest session (11:00), though it was sent first.
    assert profile["wistia_city"] == "Seattle"
    assert profile["wistia_percent_viewed"] == 0.9


def test_sigterm_drains_and_the_printed_state_never_passes_unsent_records(sandbox, tmp_path):
    faults(sandbox, latency_ms=150)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(sandbox, batch_size_rows=200)))
    process = subprocess.Popen(
        [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    records = [session(i, org=f"org-{i}") for i in range(3000)]
    text = singer_lines(records, state_every=250)
    process.stdin.write(text.rsplit("\n", 3)[0] + "\n")  # without the last STATEs: still open
    process.stdin.flush()
    time.sleep(0.8)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    states = printed_states(out)
    assert states, err
    confirmed = states[-1]["sent"]
    assert confirmed > 0, out
    stored_orgs = {event["record"]["org"] for event in stored(sandbox)}
    assert {f"org-{i}" for i in range(confirmed)} <= stored_orgs
