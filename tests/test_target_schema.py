"""target-lytics and the account's schema, over real HTTP, each test on its own sandbox account.

The scenarios of a real Lytics account: empty (check stops before any input; apply sets it up,
a second apply writes nothing), set up by Lytics' own Wistia import (check passes, no write),
with schema patches (one patch, applied), with a conflicting field (refused, named, unchanged,
nothing sent), with someone's unpublished draft, with an apply interrupted before its publish;
records sent before a publish and fields without a mapping stay off profiles; a token that
reaches several accounts. The exact requests of each run are read from the sandbox's log.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
import requests

from target_lytics.account import LyticsAccountError
from target_lytics.client import ClientSettings, LyticsClient
from target_lytics.errors import LyticsAuthError
from target_lytics.sandbox import LyticsSandbox
from target_lytics.schema_api import LyticsSchemaError, SchemaApi
from target_lytics.target import TargetLytics
from tests.lytics_runs import TOKEN, config, stats

if TYPE_CHECKING:
    from collections.abc import Iterator

ACTIVITY = {
    "type": "SCHEMA",
    "stream": "wistia_activity",
    "key_properties": ["session_id"],
    "schema": {"type": "object", "properties": {"session_id": {"type": "string"}}},
}
FIELDS = 14


class WatchedInput(io.StringIO):
    """Input that counts the lines the target reads from it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines_read = 0

    def __next__(self) -> str:  # type: ignore[override]  # typeshed: IOBase yields bytes
        line = super().__next__()
        self.lines_read += 1
        return line


def session(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "session_id": f"ek-{i}",
        "visitor_key": f"vk-{i}",
        "media_id": "m-1",
        "media_name": "Intro",
        "percent_viewed": 0.5,
        "duration_viewed": 30.0,
        "ended_at": f"2025-10-17T1{i % 10}:00:00.000000Z",
        "city": "Lyon",
        **fields,
    }


def singer(records: list[dict[str, Any]], schema: dict[str, Any] = ACTIVITY) -> str:
    lines = [schema] + [
        {"type": "RECORD", "stream": schema["stream"], "record": r} for r in records
    ]
    lines.append({"type": "STATE", "value": {"sent": len(records)}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def run(sandbox: LyticsSandbox, records: list[dict[str, Any]], **settings: Any) -> WatchedInput:
    watched = WatchedInput(singer(records))
    TargetLytics(config=config(sandbox, **settings)).listen(watched)
    return watched


def schema(sandbox: LyticsSandbox, account: str = "acct-sandbox") -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/accounts/{account}/schema", timeout=5).json()


def profiles(sandbox: LyticsSandbox) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox.url}/_sandbox/profiles", timeout=5).json()["profiles"]


def api(sandbox: LyticsSandbox, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(
        method, sandbox.url + path, json=body, headers={"Authorization": TOKEN}, timeout=5
    )
    assert response.status_code < 300, response.text
    return response.json()["data"]


_LOGGED = re.compile(r'"(GET|POST|DELETE) ([^ ?]+)[^"]*" (\d+)')


START = ["GET /api/account 200", "GET /v2/schema/user/field 200", "GET /v2/schema/user/mapping 200"]
"""A run's first requests: the token check and the two schema reads, sent at once."""


def requests_made(log: str) -> list[str]:
    """``GET /api/account 200``, ... from the sandbox's request log (its stderr).

    Requests sent together come in either order: the first three (the token check and the two
    schema reads) are put in the order of `START`, and each later pair of schema reads fields
    first.
    """
    found = (" ".join(match.groups()) for match in _LOGGED.finditer(log))
    sent = [line for line in found if "/_sandbox/" not in line]
    if sorted(sent[:3]) == sorted(START):
        sent[:3] = START
    for at in range(3, len(sent) - 1):
        if sent[at : at + 2] == START[:0:-1]:
            sent[at : at + 2] = START[1:]
    return sent


@pytest.fixture
def empty() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty", log_requests=True) as sandbox:
        yield sandbox


@pytest.fixture
def imported() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="wistia-import", log_requests=True) as sandbox:
        yield sandbox


@pytest.fixture
def patches() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty", schema_patches=True, log_requests=True) as sandbox:
        yield sandbox


# --- an empty account -------------------------------------------------------------------------


def test_check_on_an_empty_account_stops_before_any_input_naming_what_is_missing(empty, capfd):
    with pytest.raises(LyticsSchemaError) as caught:
        run(empty, [session(1)])
    message = str(caught.value)
    assert "nothing was sent (schema_mode: check)" in message
    assert "missing field wistia_country (string, latest)" in message
    assert "missing mapping email <- wistia_activity: email(conversion_data.email)" in message
    assert message.count("\n  - missing field") == FIELDS
    assert "set schema_mode to apply" in message
    counts = stats(empty)
    assert (counts["collect_requests"], counts["schema_writes"]) == (0, 0)
    assert requests_made(capfd.readouterr().err) == [
        "GET /api/account 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
    ]


def test_check_reads_no_input_line_before_it_stops(empty):
    watched = WatchedInput(singer([session(1)]))
    with pytest.raises(LyticsSchemaError):
        TargetLytics(config=config(empty)).listen(watched)
    assert watched.lines_read == 0


def test_apply_sets_up_an_empty_account_and_a_second_apply_writes_nothing(empty, capfd, caplog):
    anonymous = session(
        1,
        visitor_key="vk-ann",
        city="Portland",
        media_id="m-intro",
        ended_at="2025-10-17T09:00:00.000000Z",
    )
    later = session(
        2,
        visitor_key="vk-ann",
        city="Seattle",
        media_id="m-demo",
        media_name="Demo",
        percent_viewed=0.9,
        ended_at="2025-10-17T12:00:00.000000Z",
    )
    conversion = session(
        3,
        visitor_key="vk-ann",
        media_id="m-intro",
        percent_viewed=1.0,
        duration_viewed=60.0,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        ended_at="2025-10-17T11:00:00.000000Z",
    )
    run(empty, [later, conversion, anonymous], schema_mode="apply")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("creating identifier field(s) email, wistia_visitor_key" in w for w in warnings)
    sent = requests_made(capfd.readouterr().err)
    assert sent == [
        "GET /api/account 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "GET /v2/schema/patch/user 404",
        *["POST /v2/schema/user/field 201"] * FIELDS,
        *["POST /v2/schema/user/mapping 201"] * FIELDS,
        "POST /v2/schema/user/publish 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "POST /collect/json/wistia_activity 200",
    ]
    [version] = schema(empty)["versions"]
    assert version["tag"].startswith("target-lytics-")
    assert (version["fields"], version["mappings"]) == (FIELDS, FIELDS)
    [profile] = profiles(empty)
    assert profile["_ids"] == {"email": ["ann@example.com"], "wistia_visitor_key": ["vk-ann"]}
    assert (profile["first_name"], profile["last_name"]) == ("Ann", "Lee")
    assert profile["wistia_city"] == "Seattle"  # the newest session, though sent first
    assert profile["wisita_media_ids"] == ["m-demo", "m-intro"]
    assert profile["wisita_media_percent"] == {"m-demo": 0.9, "m-intro": 1.0}
    assert profile["wistia_media_duation"] == {"m-demo": 30.0, "m-intro": 60.0}

    writes = stats(empty)["schema_writes"]
    run(empty, [session(4)], schema_mode="apply")
    assert stats(empty)["schema_writes"] == writes
    assert requests_made(capfd.readouterr().err) == [
        "GET /api/account 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "POST /collect/json/wistia_activity 200",
    ]
    assert len(schema(empty)["versions"]) == 1


def test_schema_mode_off_makes_no_schema_call(empty, capfd):
    run(empty, [session(1)], schema_mode="off")
    assert requests_made(capfd.readouterr().err) == [
        "GET /api/account 200",
        "POST /collect/json/wistia_activity 200",
    ]
    assert profiles(empty) == []  # stored raw: no mapping, no profile


def test_a_dry_run_logs_the_plan_and_writes_nothing(empty, caplog):
    caplog.set_level(logging.INFO)
    run(empty, [session(1)], schema_mode="apply", dryrun=True)
    plan = [r.getMessage() for r in caplog.records if "Lytics schema plan" in r.getMessage()]
    assert "create field wistia_country (string, latest)" in plan[0]
    assert any(
        "create mapping wisita_media_ids <- wistia_activity: set(media_id)" in p for p in plan
    )
    assert "publish once" in plan[-1]
    counts = stats(empty)
    assert (counts["schema_writes"], counts["records_stored"], counts["dryrun_requests"]) == (
        0,
        0,
        1,
    )


# --- accounts set up otherwise -----------------------------------------------------------------


def test_an_account_set_up_by_lytics_wistia_import_works_with_check_and_no_writes(imported, capfd):
    run(imported, [session(1, email="bo@example.com")])
    assert stats(imported)["schema_writes"] == 0
    assert requests_made(capfd.readouterr().err) == [
        "GET /api/account 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "POST /collect/json/wistia_activity 200",
    ]
    [profile] = profiles(imported)
    assert profile["email"] == "bo@example.com"
    assert profile["wistia_city"] == "Lyon"


def test_an_account_with_schema_patches_is_set_up_through_one_patch(patches, capfd):
    run(patches, [session(1, email="cy@example.com")], schema_mode="apply")
    assert requests_made(capfd.readouterr().err) == [
        "GET /api/account 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "GET /v2/schema/patch/user 200",
        "POST /v2/schema/patch/user 201",
        *[f"POST /v2/schema/patch/user/{'0' * 31}1/field 201"] * FIELDS,
        *[f"POST /v2/schema/patch/user/{'0' * 31}1/mapping 201"] * FIELDS,
        f"POST /v2/schema/patch/user/{'0' * 31}1/apply 200",
        "GET /v2/schema/user/field 200",
        "GET /v2/schema/user/mapping 200",
        "POST /collect/json/wistia_activity 200",
    ]
    view = schema(patches)
    [patch] = view["patches"]
    assert patch["state"] == "applied"
    assert patch["tag"].startswith("target-lytics-")
    assert [v["tag"] for v in view["versions"]] == [patch["tag"]]
    assert profiles(patches)[0]["email"] == "cy@example.com"


def test_a_conflicting_field_is_refused_named_and_left_unchanged_and_nothing_is_sent(empty):
    conflicting = {"Field": "wistia_percent_viewed", "Type": "string", "MergeOp": "latest"}
    api(empty, "POST", "/v2/schema/user/field", conflicting)
    api(empty, "POST", "/v2/schema/user/publish", {"tag": "by-hand", "description": "ours"})
    before = stats(empty)["schema_writes"]
    watched = WatchedInput(singer([session(1)]))
    with pytest.raises(LyticsSchemaError) as caught:
        TargetLytics(config=config(empty, schema_mode="apply")).listen(watched)
    message = str(caught.value)
    assert "nothing was changed" in message
    assert (
        "field wistia_percent_viewed: the account has it as string, the mapping needs number"
        in message
    )
    assert watched.lines_read == 0
    counts = stats(empty)
    assert (counts["schema_writes"], counts["collect_requests"]) == (before, 0)
    field = api(empty, "GET", "/v2/schema/user/field/wistia_percent_viewed")
    assert field["type"] == "string"
    assert [f["id"] for f in api(empty, "GET", "/v2/schema/user/field")] == [
        "wistia_percent_viewed"
    ]
    with pytest.raises(LyticsSchemaError, match="conflicting field wistia_percent_viewed"):
        run(empty, [session(1)])  # check lists it too, next to what is missing


def test_someone_elses_unpublished_draft_stops_apply_before_any_write(empty):
    api(empty, "POST", "/v2/schema/user/field", {"Field": "their_field", "Type": "string"})
    before = stats(empty)["schema_writes"]
    with pytest.raises(LyticsSchemaError, match=r"did not make:\n  - field their_field \(new\)"):
        run(empty, [session(1)], schema_mode="apply")
    assert stats(empty)["schema_writes"] == before
    assert schema(empty)["versions"] == []


def test_an_apply_interrupted_before_its_publish_is_finished_by_the_next_run(empty, capfd):
    # A run killed after creating the fields: they sit in the draft, unpublished.
    required = {
        "wistia_country": ("string", "latest"),
        "wistia_state": ("string", "latest"),
    }
    for name, (kind, op) in required.items():
        api(empty, "POST", "/v2/schema/user/field", {"Field": name, "Type": kind, "MergeOp": op})
    capfd.readouterr()
    run(empty, [session(1, email="di@example.com")], schema_mode="apply")
    sent = requests_made(capfd.readouterr().err)
    assert sent.count("POST /v2/schema/user/field 201") == FIELDS - 2
    assert sent.count("POST /v2/schema/user/mapping 201") == FIELDS
    assert sent.count("POST /v2/schema/user/publish 200") == 1
    assert profiles(empty)[0]["email"] == "di@example.com"
    statuses = {f["id"]: f["edit_status"] for f in schema(empty)["fields"]}
    assert set(statuses.values()) == {"unmodified"}


# --- what stays off profiles -----------------------------------------------------------------


def test_records_sent_before_publishing_and_fields_without_a_mapping_stay_off_profiles(empty):
    browser = {"wistia_activity": {"fields": {"wistia_browser": "user_agent_details.browser"}}}
    early = session(1, email="early@example.com", user_agent_details={"browser": "Firefox"})
    run(empty, [early], schema_mode="off", mapping=browser)  # stored raw: nothing mapped yet
    run(empty, [session(2, email="late@example.com")], schema_mode="apply")
    emails = [p["email"] for p in profiles(empty)]
    assert emails == ["late@example.com"]  # the early record never reaches a profile
    events = api(empty, "GET", "/v2/stream/wistia_activity/events")
    assert len(events) == 2
    fields = {item["field"] for item in api(empty, "GET", "/v2/stream/wistia_activity/fields")}
    assert "user_agent_details.browser" in fields  # visible in the stream, on no profile
    assert all("wistia_browser" not in p for p in profiles(empty))


def test_unmapped_streams_are_sent_as_they_are_with_a_warning_naming_unread_fields(
    imported, caplog
):
    orders = {
        "type": "SCHEMA",
        "stream": "orders",
        "key_properties": ["id"],
        "schema": {"type": "object", "properties": {"id": {}, "note": {}, "total": {}}},
    }
    TargetLytics(config=config(imported)).listen(
        io.StringIO(singer([{"id": 1, "note": "gift", "total": 9.5}], orders))
    )
    events = api(imported, "GET", "/v2/stream/orders/events")
    assert events == [{"id": 1, "note": "gift", "total": 9.5}]
    [warning] = [r.getMessage() for r in caplog.records if "has no mapping" in r.getMessage()]
    assert "no mapping of the account reads its fields id, note, total" in warning


# --- accounts and retries -------------------------------------------------------------------


def test_a_token_reaching_several_accounts_needs_account_id():
    with LyticsSandbox(tokens={TOKEN: ["acct-prod", "acct-dev"]}) as sandbox:
        with pytest.raises(LyticsAccountError) as caught:
            run(sandbox, [session(1)])
        message = str(caught.value)
        assert "reaches 2 Lytics accounts" in message
        assert "acct-prod (aid 1234, Sandbox Account acct-prod)" in message
        assert "acct-dev (aid 1235" in message
        assert TOKEN not in message
        run(sandbox, [session(1)], account_id="acct-dev")
        counts = requests.get(
            f"{sandbox.url}/_sandbox/streams", params={"account": "acct-dev"}, timeout=5
        ).json()
        assert counts == {"wistia_activity": 1}


def test_schema_calls_are_retried_like_collects(empty):
    requests.post(
        f"{empty.url}/_sandbox/faults",
        json={"fail_next": [503, 429, 502], "fail_paths": ["/"]},
        timeout=5,
    ).raise_for_status()
    run(empty, [session(1, email="ed@example.com")], schema_mode="apply")
    by_status = stats(empty)["by_status"]
    assert (by_status["503"], by_status["429"], by_status["502"]) == (1, 1, 1)
    assert profiles(empty)[0]["email"] == "ed@example.com"


def test_a_token_refused_on_the_schema_says_what_the_schema_step_needs(empty):
    requests.post(
        f"{empty.url}/_sandbox/faults", json={"fail_next": [403], "fail_paths": ["/"]}, timeout=5
    ).raise_for_status()
    client = LyticsClient(ClientSettings(api_url=empty.url, api_token=TOKEN, retry_backoff=0.01))
    try:
        with pytest.raises(LyticsAuthError) as caught:
            SchemaApi(client).read()
    finally:
        client.close()
    message = str(caught.value)
    assert "HTTP 403" in message
    assert "for reading the account's" in message  # its fields or mappings: both go at once
    assert "set schema_mode to off" in message
    assert TOKEN not in message


@pytest.mark.e2e  # runs a process
def test_the_cli_stops_with_the_check_message_and_no_traceback(empty, tmp_path):
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(empty)))
    done = subprocess.run(
        [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
        input=singer([session(1)]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""  # no STATE: nothing was sent
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "lacks what the mapping setting needs" in errors[0]
    assert "missing field wistia_visitor_key (string, identifier)" in done.stderr
    assert stats(empty)["collect_requests"] == 0
