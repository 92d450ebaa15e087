"""target-lytics over real HTTP against the Lytics sandbox: delivery, failures, STATE, profiles."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from api_http.client import MAX_WAIT_SECONDS, RetryLaterError, next_wait
from target_lytics.account import LyticsAccountError
from target_lytics.errors import (
    LyticsAuthError,
    LyticsRejectedError,
    LyticsRequestError,
    LyticsUnavailableError,
)
from target_lytics.settings import settings_from_config
from target_lytics.sinks import OversizeRecordError
from target_lytics.target import TargetLytics
from tests.hostile import HostileServer, Script, Seen
from tests.lytics_runs import (
    ACTIVITY_SCHEMA,
    EXPIRED_TOKEN,
    SECRET_TOKEN,
    TOKEN,
    WRONG_TOKEN,
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

# --- delivery ---------------------------------------------------------------------------------


def test_every_record_reaches_lytics_mapped_and_dated_by_ended_at(lytics_sandbox, capsys):
    records = [session(i) for i in range(2500)]
    run_target(config(lytics_sandbox, batch_size_rows=1000), singer_lines(records))

    events = stored(lytics_sandbox)
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
    counts = stats(lytics_sandbox)
    assert counts["collect_requests"] == 3  # 1000 + 1000 + 500
    assert counts["legacy_query_token"] == 0  # the token only ever travels in the header
    assert printed_states(capsys.readouterr().out) == [{"sent": 2500}]


def test_requests_stay_within_lytics_limits_and_hold_many_records(lytics_sandbox):
    records = [session(i, org="x" * 3000) for i in range(4000)]
    run_target(config(lytics_sandbox, batch_size_rows=5000), singer_lines(records))
    counts = stats(lytics_sandbox)
    assert counts["records_stored"] == 4000
    assert counts["max_body_bytes"] <= 10 * 1024 * 1024
    assert counts["collect_requests"] == 2  # ~13 MB of records: the byte limit splits them


def test_one_request_at_a_time_of_ten_thousand_records_by_default(lytics_sandbox, caplog):
    # max_requests_in_flight is deprecated: accepted, with a warning, and changes nothing.
    target = TargetLytics(config=config(lytics_sandbox, max_requests_in_flight=4))
    target.prepare()  # the account and schema check, before the slow answers start
    faults(lytics_sandbox, latency_ms=200)  # slow enough for two requests to meet, were both out
    target.listen(io.StringIO(singer_lines([session(i) for i in range(25_000)])))
    counts = stats(lytics_sandbox)
    assert counts["records_stored"] == 25_000
    assert counts["collect_requests"] == 3  # 10,000 + 10,000 + 5,000
    assert counts["max_requests_in_flight"] == 1
    assert "max_requests_in_flight is deprecated and ignored" in caplog.text


def test_dry_run_sends_dryrun_on_every_request_and_stores_nothing(lytics_sandbox, capsys):
    lines = singer_lines([session(1)] * 250, state_every=100)
    run_target(config(lytics_sandbox, dryrun=True, batch_size_rows=100), lines)
    counts = stats(lytics_sandbox)
    assert counts["collect_requests"] == 3
    assert counts["dryrun_requests"] == 3
    assert counts["records_stored"] == 0
    assert stored(lytics_sandbox) == []
    assert printed_states(capsys.readouterr().out) == []  # no bookmark passes what was not kept


def test_stream_setting_redirects_records_and_the_mappings_they_need(lytics_sandbox):
    cfg = config(lytics_sandbox, stream="videos", schema_mode="apply")
    run_target(cfg, singer_lines([session(1, email="vid@example.com")]))
    assert len(stored(lytics_sandbox, "videos")) == 1
    assert stored(lytics_sandbox) == []
    schema = requests.get(f"{lytics_sandbox.url}/_sandbox/accounts/acct-sandbox/schema", timeout=5)
    streams = {mapping["stream"] for mapping in schema.json()["mappings"]}
    assert streams == {"wistia_activity", "videos"}  # the import's, and the ones added for videos
    profile = requests.get(
        f"{lytics_sandbox.url}/api/entity/user/email/vid@example.com",
        headers={"Authorization": TOKEN},
        timeout=5,
    ).json()["data"]
    assert profile["wistia_city"] == "Portland"


def test_account_id_only_checks_the_tokens_own_account_and_is_never_sent(lytics_sandbox):
    run_target(config(lytics_sandbox, account_id="acct-sandbox"), singer_lines([session(1)]))
    run_target(config(lytics_sandbox, account_id="1234"), singer_lines([session(2)]))  # its aid
    assert len(stored(lytics_sandbox)) == 2
    before = stats(lytics_sandbox)["collect_requests"]
    with pytest.raises(LyticsAccountError) as caught:
        run_target(config(lytics_sandbox, account_id="acct-2"), singer_lines([session(3)]))
    message = str(caught.value)
    assert "account_id is 'acct-2'" in message
    assert "belongs to the Lytics account acct-sandbox (aid 1234" in message
    assert stats(lytics_sandbox)["collect_requests"] == before  # refused before any collect
    assert stats(lytics_sandbox)["account_id_queries"] == 0  # no request ever carried it


def test_unmapped_stream_with_arrays_of_objects_is_accepted(lytics_sandbox):
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
    run_target(config(lytics_sandbox), "\n".join(json.dumps(line) for line in lines) + "\n")
    events = stored(lytics_sandbox, "orders")
    assert [e["record"] for e in events] == [
        {"id": 1, "lines": {"0": {"sku": "a"}, "1": {"sku": "b"}}, "tags": ["x"]}
    ]
    assert stats(lytics_sandbox)["rejected"] == 0


def test_batch_messages_are_delivered_too(lytics_sandbox, tmp_path, capsys):
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
    run_target(
        config(lytics_sandbox, batch_size_rows=50), "".join(json.dumps(m) + "\n" for m in lines)
    )
    assert len(stored(lytics_sandbox)) == 120
    assert stats(lytics_sandbox)["collect_requests"] == 3
    assert printed_states(capsys.readouterr().out) == [{"batch": 1}]


# --- transient failures -----------------------------------------------------------------------


def test_429_and_5xx_are_retried_without_loss_or_duplicates(lytics_sandbox, caplog):
    faults(lytics_sandbox, fail_next=[429, 503, 500, 502])
    run_target(
        config(lytics_sandbox, batch_size_rows=100), singer_lines([session(i) for i in range(300)])
    )
    assert len(stored(lytics_sandbox)) == 300
    by_status = stats(lytics_sandbox)["by_status"]
    assert by_status["429"] == by_status["503"] == by_status["500"] == by_status["502"] == 1
    assert sum("retry" in r.getMessage() for r in caplog.records) == 4


def test_retry_after_is_honoured(lytics_sandbox):
    faults(lytics_sandbox, fail_next=[429], retry_after_seconds=0.4)
    started = time.monotonic()
    run_target(
        config(lytics_sandbox), singer_lines([session(1)])
    )  # backoff alone would wait 0.01 s
    assert time.monotonic() - started >= 0.4
    assert len(stored(lytics_sandbox)) == 1


def test_timeouts_and_resets_are_retried(lytics_sandbox):
    faults(lytics_sandbox, timeout_next=1, timeout_seconds=3, reset_next=1)
    run_target(
        config(lytics_sandbox, request_timeout=0.5, batch_size_rows=50),
        singer_lines([session(i) for i in range(100)]),
    )
    assert len(stored(lytics_sandbox)) == 100


def test_413_splits_the_request(lytics_sandbox):
    faults(lytics_sandbox, fail_next=[413])
    run_target(
        config(lytics_sandbox, batch_size_rows=500), singer_lines([session(i) for i in range(500)])
    )
    assert len(stored(lytics_sandbox)) == 500
    counts = stats(lytics_sandbox)
    assert counts["collect_requests"] == 2  # the two halves; the 413 stored nothing
    assert counts["by_status"]["413"] == 1


def test_the_first_refused_request_stops_the_run_before_the_next_is_sent(lytics_sandbox, capsys):
    # Two requests' worth of records: the first is refused for good; the second never leaves.
    faults(lytics_sandbox, fail_next=[400])
    with pytest.raises(LyticsRequestError, match="HTTP 400"):
        run_target(
            config(lytics_sandbox, batch_size_rows=10),
            singer_lines([session(i) for i in range(20)]),
        )
    counts = stats(lytics_sandbox)
    assert counts["by_status"]["400"] == 1
    assert counts["records_received"] == counts["collect_requests"] == 0  # none sent after it
    assert printed_states(capsys.readouterr().out) == []


def test_exhausted_retries_stop_the_run_before_its_state(lytics_sandbox, capsys):
    faults(lytics_sandbox, fail_next=[503, 503, 503])
    with pytest.raises(LyticsUnavailableError, match=r"gave up after 3 attempts \(last: HTTP 503"):
        run_target(config(lytics_sandbox, max_retries=2), singer_lines([session(1)]))
    assert printed_states(capsys.readouterr().out) == []


# --- refusals: the run stops and its STATE is not printed --------------------------------------


def test_rejected_records_stop_the_run_and_no_state_is_printed(lytics_sandbox, capsys):
    faults(lytics_sandbox, reject_next=1, reject_count=1)
    records = [session(i) for i in range(30)]
    with pytest.raises(LyticsRejectedError, match="rejected 1 of 10 records"):
        run_target(
            config(lytics_sandbox, batch_size_rows=10), singer_lines(records, state_every=10)
        )
    assert printed_states(capsys.readouterr().out) == []


def test_400_stops_the_run_with_lytics_message(lytics_sandbox, capsys):
    faults(lytics_sandbox, fail_next=[400])
    with pytest.raises(LyticsRequestError, match="HTTP 400"):
        run_target(config(lytics_sandbox), singer_lines([session(1)]))
    assert printed_states(capsys.readouterr().out) == []
    assert stats(lytics_sandbox)["collect_requests"] == 0  # not retried


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refusal_mid_run_is_not_retried(lytics_sandbox, status):
    faults(lytics_sandbox, fail_next=[status])
    with pytest.raises(LyticsAuthError, match=f"HTTP {status}"):
        run_target(config(lytics_sandbox), singer_lines([session(1)]))
    assert stats(lytics_sandbox)["by_status"][str(status)] == 1


class WatchedInput(io.StringIO):
    """Input that counts the lines the target reads from it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines_read = 0

    def __next__(self) -> str:  # type: ignore[override]  # typeshed: IOBase yields bytes
        line = super().__next__()
        self.lines_read += 1
        return line


@pytest.mark.parametrize(
    ("token", "message"),
    [(WRONG_TOKEN, "HTTP 401 Not authorized"), (EXPIRED_TOKEN, "Expired Token")],
)
def test_bad_and_expired_tokens_fail_before_any_input_is_read(lytics_sandbox, token, message):
    target = TargetLytics(config=config(lytics_sandbox, api_token=token))  # contacts nothing
    assert stats(lytics_sandbox)["requests"] == 0
    watched = WatchedInput(singer_lines([session(1)]))
    with pytest.raises(LyticsAuthError, match=message):
        target.listen(watched)
    assert watched.lines_read == 0
    assert stats(lytics_sandbox)["collect_requests"] == 0


def test_a_wrong_path_in_api_url_names_api_url_not_the_token(lytics_sandbox):
    # The repro: a wrong path answered 404 and the message said the token was refused.
    url = f"{lytics_sandbox.url}/nowhere"
    with pytest.raises(LyticsRequestError) as caught:
        run_target(config(lytics_sandbox, api_url=url), singer_lines([session(1)]))
    message = str(caught.value)
    assert f"Nothing at api_url {url} answers like the Lytics API" in message
    assert "GET /v2/account and GET /api/account answered HTTP 404" in message
    assert "check api_url (Lytics' is https://api.lytics.io)" in message
    assert "api_token" not in message
    assert stats(lytics_sandbox)["collect_requests"] == 0


@pytest.mark.e2e  # runs a process
def test_creating_the_target_and_about_need_no_network(tmp_path):
    unreachable = {"api_token": TOKEN, "api_url": "http://127.0.0.1:9", "max_retries": 0}
    target = TargetLytics(config=unreachable)  # no request: nothing listens on port 9
    assert target.schema_checks is None
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


def test_oversize_record_fails_with_its_key_and_how_to_park_it(lytics_sandbox):
    records = [session(1), session(2, org="x" * 17_000)]
    with pytest.raises(
        OversizeRecordError, match=r"session_id='ek-2'.*16 KB per-record limit"
    ) as e:
        run_target(config(lytics_sandbox), singer_lines(records))
    assert "set dead_letter_path and max_rejected_records to park such records" in str(e.value)


def test_oversize_identifier_fails_with_its_key(lytics_sandbox):
    records = [session(1, email="a" * 250 + "@example.com")]
    with pytest.raises(OversizeRecordError, match=r"session_id='ek-1'.*262-byte email"):
        run_target(config(lytics_sandbox), singer_lines(records))


def test_oversize_records_can_still_be_skipped_and_counted_with_a_deprecation(
    lytics_sandbox, caplog
):
    records = [
        session(1),
        session(2, org="x" * 17_000),
        session(3, visitor_key="v" * 300),
        session(4, email="é" * 100),  # 100 characters, 200 bytes: fine
    ]
    run_target(config(lytics_sandbox, skip_oversize_records=True), singer_lines(records))
    assert len(stored(lytics_sandbox)) == 2
    messages = [record.getMessage() for record in caplog.records]
    assert "2 records of stream 'wistia_activity' were skipped as too large for Lytics" in messages
    assert (
        "skip_oversize_records is deprecated: it skips records over Lytics' limits" in caplog.text
    )


def test_token_never_appears_in_logs_urls_or_errors(lytics_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    faults(lytics_sandbox, fail_next=[503, 400])
    with pytest.raises(LyticsRequestError) as caught:
        run_target(config(lytics_sandbox, api_token=SECRET_TOKEN), singer_lines([session(1)]))
    assert SECRET_TOKEN not in str(caught.value)
    assert all(SECRET_TOKEN not in record.getMessage() for record in caplog.records)
    assert stats(lytics_sandbox)["legacy_query_token"] == 0


# --- the CLI: one clear line, no traceback ------------------------------------------------------


@pytest.mark.e2e  # runs a process
def test_cli_bad_token_exits_with_one_line(lytics_sandbox, tmp_path):
    result = run_cli(config(lytics_sandbox, api_token=WRONG_TOKEN), "", tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "refused the api_token" in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.e2e  # runs a process
def test_cli_rejection_prints_no_state_and_no_traceback(lytics_sandbox, tmp_path):
    faults(lytics_sandbox, reject_next=1, reject_count=2)
    result = run_cli(config(lytics_sandbox), singer_lines([session(i) for i in range(5)]), tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "Lytics rejected 2 of 5 records" in result.stderr


@pytest.mark.e2e  # runs a process
def test_about_in_markdown_renders_its_title_and_description_as_markdown():
    about = subprocess.run(
        [sys.executable, "-m", "target_lytics", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    header = about.split("## Capabilities")[0]
    assert header.splitlines()[0] == "# `target-lytics`"
    assert f"\n\n{TargetLytics.__doc__}\n" in header
    assert "\nBuilt with the [Meltano Singer SDK](https://sdk.meltano.com)." in header
    assert [line for line in header.splitlines() if line.startswith(" ")] == []  # no code block


# --- settings -----------------------------------------------------------------------------------


def _problems(**settings: Any) -> list[str]:
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": "at.x.y", **settings})
    return caught.value.errors


def test_settings_defaults():
    settings = settings_from_config({"api_token": "at.x.y"})
    assert settings.client.api_url == "https://api.lytics.io"
    assert settings.client.rows_per_request == 10_000
    assert settings.deprecations == ()
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


def test_json_schema_validation_runs_first(lytics_sandbox):
    with pytest.raises(ConfigValidationError):
        TargetLytics(config=config(lytics_sandbox, batch_size_rows=0))


# --- backoff rules (pure) -----------------------------------------------------------------------


def test_backoff_is_full_jitter_of_a_doubling_ceiling_capped_at_a_minute():
    assert next_wait(0, None, base=1.0, rand=lambda: 0.0) == 0.0
    assert next_wait(0, None, base=1.0, rand=lambda: 1.0) == 1.0
    assert next_wait(3, None, base=1.0, rand=lambda: 1.0) == 8.0
    assert next_wait(3, None, base=1.0, rand=lambda: 0.5) == 4.0
    assert next_wait(20, None, base=1.0, rand=lambda: 1.0) == MAX_WAIT_SECONDS == 60.0


def test_retry_after_is_waited_whole_with_a_small_spread_and_capped_at_a_minute():
    asked = RetryLaterError("HTTP 429", retry_after=7.0)
    assert next_wait(5, asked, base=1.0, rand=lambda: 0.0) == 7.0
    assert next_wait(5, asked, base=1.0, rand=lambda: 1.0) == 7.25
    huge = RetryLaterError("HTTP 429", retry_after=99999.0)
    assert next_wait(0, huge, base=1.0, rand=lambda: 0.0) == 60.0


# --- the profile Lytics builds ------------------------------------------------------------------


def test_anonymous_sessions_merge_into_the_converted_profile(lytics_sandbox):
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
    run_target(config(lytics_sandbox), singer_lines([second, converted, first]))

    answer = requests.get(
        f"{lytics_sandbox.url}/api/entity/user/email/ann@example.com",
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


@pytest.mark.parametrize(
    ("given", "expected"),
    [({}, None), ({"schema_patches": True}, True), ({"schema_patches": False}, False)],
)
def test_schema_patches_is_true_false_or_left_to_the_account(given, expected):
    assert settings_from_config({"api_token": "at.x.y", **given}).schema_patches is expected


def test_schema_patches_must_be_a_boolean():
    [problem] = _problems(schema_patches="sometimes")
    assert problem.startswith("schema_patches: 'sometimes' is not true or false")


# --- the token's own account, from whichever listing Lytics answers ------------------------------


def _account_server(v2: Script, api: Script) -> HostileServer:
    """Lytics as far as the account check goes, then accepting collects."""

    def answer(request: Seen) -> Script:
        if request.path == "/v2/account":
            return v2
        if request.path == "/api/account":
            return api
        count = len(json.loads(request.body))
        return Script.json({"status": 200, "data": {"message_count": count, "rejected_count": 0}})

    return HostileServer(answer)


def _accounts(*entries: dict[str, Any]) -> Script:
    return Script.json({"data": list(entries), "status": 200, "message": "success"})


PROD = {"id": "acct-prod", "aid": 7, "name": "Prod"}
DEV = {"id": "acct-dev", "aid": 8, "name": "Dev"}


@pytest.mark.parametrize("refusal", [403, 404, 405])
def test_the_token_check_asks_api_account_when_v2_account_is_not_answered(refusal, caplog):
    caplog.set_level(logging.INFO)
    v2 = Script.json({"status": refusal, "message": "no"}, status=refusal)
    with _account_server(v2, _accounts(PROD)) as server:
        settings = {"api_token": TOKEN, "api_url": server.url, "schema_mode": "off"}
        run_target({**settings, "account_id": "7"}, singer_lines([session(1)]))
        paths = [request.path for request in server.requests]
    assert paths == ["/v2/account", "/api/account", "/collect/json/wistia_activity"]
    assert any(
        "accepted for account acct-prod (aid 7, Prod)" in r.getMessage() for r in caplog.records
    )


def test_a_parent_tokens_family_names_its_own_account_wherever_it_is_listed():
    family = _accounts({**DEV, "parentaid": 7}, {**PROD, "parentaid": 7})
    with _account_server(family, Script(500)) as server:
        settings = {"api_token": TOKEN, "api_url": server.url, "schema_mode": "off"}
        run_target({**settings, "account_id": "acct-prod"}, singer_lines([session(1)]))
        with pytest.raises(LyticsAccountError, match=r"belongs to the Lytics account acct-prod"):
            run_target({**settings, "account_id": "acct-dev"}, singer_lines([session(2)]))
        collects = [r for r in server.requests if r.path.startswith("/collect")]
    assert len(collects) == 1
    assert all("account_id" not in request.query for request in server.requests)


def test_a_token_reaching_accounts_none_of_which_is_said_to_be_its_own(caplog):
    with _account_server(Script(404), _accounts(PROD, DEV)) as server:
        settings = {"api_token": TOKEN, "api_url": server.url, "schema_mode": "off"}
        with pytest.raises(LyticsAccountError, match="the guard cannot be checked"):
            run_target({**settings, "account_id": "acct-dev"}, singer_lines([session(1)]))
        assert not [r for r in server.requests if r.path.startswith("/collect")]
        run_target(settings, singer_lines([session(1)]))  # no account_id: the token decides
    [warning] = [r.getMessage() for r in caplog.records if "does not say which" in r.getMessage()]
    assert "acct-prod (aid 7, Prod); acct-dev (aid 8, Dev)" in warning
