"""target-lytics and the account's schema, over real HTTP, each test on its own sandbox account.

The scenarios of a real Lytics account: empty and publishing directly (check stops before the
stream's first record; apply sets it up, lowercase keys, one publish; a second apply writes
nothing), with schema patches (one patch, applied), whose settings the token may not read (stop
naming `enable_schema_patches`; the `schema_patches` setting then decides), set up by Lytics'
own Wistia import (check passes, no write; another merge op: a warning, and the run goes on),
with a conflicting field (refused, named, unchanged, nothing sent), with a colleague's
unpublished draft (nothing published or sent), with an apply interrupted before its publish,
with a field create whose answer is lost (read back, no duplicate); a run that never sends a
stream is never asked for its fields; records sent before a publish and fields without a
mapping stay off profiles; a parent token and `account_id`. The drafts' diffs come in both
shapes the sandbox serves. The exact requests of each run are read from the sandbox's log.
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
from target_lytics.errors import LyticsAuthError, LyticsRequestError
from target_lytics.sandbox import LyticsSandbox
from target_lytics.sandbox.schema import COMPARE_SHAPES
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
PATCH = f"/v2/schema/patch/user/{'0' * 31}1"


def requests_made(log: str) -> list[str]:
    """``GET /v2/account 200``, ... from the sandbox's request log (its stderr), in order.

    The target sends one request at a time, so the log's order is the order sent.
    """
    found = (" ".join(match.groups()) for match in _LOGGED.finditer(log))
    return [line for line in found if "/_sandbox/" not in line]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def empty() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty", log_requests=True) as sandbox:
        yield sandbox


@pytest.fixture(params=COMPARE_SHAPES)
def direct(request: pytest.FixtureRequest) -> Iterator[LyticsSandbox]:
    """An empty account publishing directly, its draft's diff in each shape the sandbox serves."""
    with LyticsSandbox(preset="empty", log_requests=True, compare_shape=request.param) as sandbox:
        yield sandbox


@pytest.fixture
def imported() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="wistia-import", log_requests=True) as sandbox:
        yield sandbox


@pytest.fixture
def patches() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty", schema_patches=True, log_requests=True) as sandbox:
        yield sandbox


READS = ["GET /v2/schema/user/field 200", "GET /v2/schema/user/mapping 200"]
"""The schema step's first requests, when the stream arrives: the fields, then the mappings."""
DIRECT_APPLY = [
    "GET /v2/account 200",
    *READS,
    "GET /api/account/setting/enable_schema_patches 200",
    "GET /v2/schema/user/compare 200",
    *["POST /v2/schema/user/field 201"] * FIELDS,
    *["POST /v2/schema/user/mapping 201"] * FIELDS,
    "GET /v2/schema/user/compare 200",
    "POST /v2/schema/user/publish 200",
    *READS,
    "POST /collect/json/wistia_activity 200",
]
"""`apply` on an empty account publishing directly, as the sandbox's log shows it."""
PATCH_APPLY = [
    "GET /v2/account 200",
    *READS,
    "GET /api/account/setting/enable_schema_patches 200",
    "POST /v2/schema/patch/user 201",
    *[f"POST {PATCH}/field 201"] * FIELDS,
    *[f"POST {PATCH}/mapping 201"] * FIELDS,
    f"POST {PATCH}/apply 200",
    *READS,
    "POST /collect/json/wistia_activity 200",
]
"""`apply` on an empty account with schema patches."""


# --- an empty account -------------------------------------------------------------------------


def test_check_on_an_empty_account_stops_before_the_first_record_naming_what_is_missing(
    empty, capfd
):
    with pytest.raises(LyticsSchemaError) as caught:
        run(empty, [session(1)])
    message = str(caught.value)
    assert "for stream(s) wistia_activity, so nothing of it was sent" in message
    assert "missing field wistia_country (string, latest)" in message
    assert "missing mapping email <- wistia_activity: email(conversion_data.email)" in message
    assert message.count("\n  - missing field") == FIELDS
    assert "set schema_mode to apply" in message
    assert "identifier field(s) email, wistia_visitor_key" in message
    counts = stats(empty)
    assert (counts["collect_requests"], counts["schema_writes"]) == (0, 0)
    assert requests_made(capfd.readouterr().err) == ["GET /v2/account 200", *READS]


def test_check_reads_no_record_before_it_stops(empty):
    watched = WatchedInput(singer([session(1)]))
    with pytest.raises(LyticsSchemaError):
        TargetLytics(config=config(empty)).listen(watched)
    assert watched.lines_read == 1  # the SCHEMA message, not its first record


def test_apply_sets_up_an_empty_account_and_a_second_apply_writes_nothing(direct, capfd, caplog):
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
    run(direct, [later, conversion, anonymous], schema_mode="apply")
    assert any(
        "creating identifier field(s) email, wistia_visitor_key" in w for w in warnings_of(caplog)
    )
    assert requests_made(capfd.readouterr().err) == DIRECT_APPLY
    [version] = schema(direct)["versions"]
    assert version["tag"].startswith("target-lytics-")
    assert (version["fields"], version["mappings"]) == (FIELDS, FIELDS)
    [profile] = profiles(direct)
    assert profile["_ids"] == {"email": ["ann@example.com"], "wistia_visitor_key": ["vk-ann"]}
    assert (profile["first_name"], profile["last_name"]) == ("Ann", "Lee")
    assert profile["wistia_city"] == "Seattle"  # the newest session, though sent first
    assert profile["wisita_media_ids"] == ["m-demo", "m-intro"]
    assert profile["wisita_media_percent"] == {"m-demo": 0.9, "m-intro": 1.0}
    assert profile["wistia_media_duation"] == {"m-demo": 30.0, "m-intro": 60.0}

    writes = stats(direct)["schema_writes"]
    run(direct, [session(4)], schema_mode="apply")
    assert stats(direct)["schema_writes"] == writes
    assert requests_made(capfd.readouterr().err) == [
        "GET /v2/account 200",
        *READS,
        "POST /collect/json/wistia_activity 200",
    ]
    assert len(schema(direct)["versions"]) == 1


def test_schema_mode_off_makes_no_schema_call(empty, capfd):
    run(empty, [session(1)], schema_mode="off")
    assert requests_made(capfd.readouterr().err) == [
        "GET /v2/account 200",
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
    assert plan[-1].endswith("publish once (the draft holds nothing else)")
    counts = stats(empty)
    assert (counts["schema_writes"], counts["records_stored"], counts["dryrun_requests"]) == (
        0,
        0,
        1,
    )


# --- how the account takes changes ----------------------------------------------------------------


def test_an_account_with_schema_patches_is_set_up_through_one_patch(patches, capfd):
    run(patches, [session(1, email="cy@example.com")], schema_mode="apply")
    assert requests_made(capfd.readouterr().err) == PATCH_APPLY
    view = schema(patches)
    [patch] = view["patches"]
    assert patch["state"] == "applied"
    assert patch["tag"].startswith("target-lytics-")
    assert [v["tag"] for v in view["versions"]] == [patch["tag"]]
    assert profiles(patches)[0]["email"] == "cy@example.com"


@pytest.mark.parametrize("patches_on", [False, True])
def test_a_token_that_may_not_read_settings_stops_naming_the_setting_then_schema_patches_decides(
    patches_on, capfd
):
    with LyticsSandbox(
        preset="empty", schema_patches=patches_on, settings_readable=False, log_requests=True
    ) as sandbox:
        watched = WatchedInput(singer([session(1, email="di@example.com")]))
        with pytest.raises(LyticsSchemaError) as caught:
            TargetLytics(config=config(sandbox, schema_mode="apply")).listen(watched)
        message = str(caught.value)
        assert "cannot read the account setting enable_schema_patches" in message
        assert "HTTP 403 Not authorized: this token may not read the account's settings" in message
        assert "set schema_patches to true" in message
        counts = stats(sandbox)
        assert (counts["schema_writes"], counts["collect_requests"]) == (0, 0)
        assert watched.lines_read == 1
        capfd.readouterr()

        run(sandbox, [session(1, email="di@example.com")], schema_mode="apply",
            schema_patches=patches_on)  # fmt: skip
        expected = PATCH_APPLY if patches_on else DIRECT_APPLY
        setting = "GET /api/account/setting/enable_schema_patches 200"
        assert requests_made(capfd.readouterr().err) == [r for r in expected if r != setting]
        assert profiles(sandbox)[0]["email"] == "di@example.com"


def test_a_wrong_schema_patches_setting_meets_lytics_own_words(patches):
    with pytest.raises(LyticsRequestError) as caught:
        run(patches, [session(1)], schema_mode="apply", schema_patches=False)
    message = str(caught.value)
    assert "Lytics refused creating field wistia_country: HTTP 400 this account has " in message
    assert "enable_schema_patches" in message
    assert "request_id sbx-" in message
    assert stats(patches)["collect_requests"] == 0


# --- accounts set up otherwise -----------------------------------------------------------------


def test_an_account_set_up_by_lytics_wistia_import_works_with_check_and_no_writes(
    imported, capfd, caplog
):
    run(imported, [session(1, email="bo@example.com")])
    assert stats(imported)["schema_writes"] == 0
    assert requests_made(capfd.readouterr().err) == [
        "GET /v2/account 200",
        *READS,
        "POST /collect/json/wistia_activity 200",
    ]
    [profile] = profiles(imported)
    assert profile["email"] == "bo@example.com"
    assert profile["wistia_city"] == "Lyon"
    [unbounded] = [w for w in warnings_of(caplog) if "no capacity limit" in w]
    assert unbounded.startswith(
        "Lytics schema: no capacity limit on wistia_media_names ([]string), wisita_media_ids "
        "([]string), wisita_media_percent (map[string]number), wistia_media_duation "
        "(map[string]number): a profile keeps at most 1,000 attribute values"
    )


def test_another_merge_op_on_an_imported_account_is_a_warning_and_the_run_goes_on(imported, caplog):
    latestmap = {"id": "wisita_media_percent", "type": "map[string]number", "mergeop": "latestmap"}
    api(imported, "POST", "/v2/schema/user/field/wisita_media_percent", latestmap)
    api(imported, "POST", "/v2/schema/user/publish", {"tag": "by-hand", "description": "ours"})
    sessions = [
        session(1, visitor_key="vk-1", media_id="m-1", percent_viewed=0.5),
        session(2, visitor_key="vk-1", media_id="m-2", percent_viewed=0.75),
    ]
    run(imported, sessions)
    run(imported, [session(3, visitor_key="vk-1", media_id="m-1", percent_viewed=0.25)])
    differences = [w for w in warnings_of(caplog) if "merges it by latestmap" in w]
    assert len(differences) == 2  # once a run
    assert differences[0] == (
        "Lytics schema: field wisita_media_percent: the account merges it by latestmap, the "
        "mapping setting by merge; the account's choice is kept"
    )
    assert stats(imported)["schema_writes"] == 2  # the test's update and publish: none more
    [profile] = profiles(imported)
    assert profile["wisita_media_percent"] == {"m-1": 0.25, "m-2": 0.75}
    assert profile["wisita_media_ids"] == ["m-1", "m-2"]


def test_a_conflicting_field_is_refused_named_and_left_unchanged_and_nothing_is_sent(empty):
    conflicting = {"id": "wistia_percent_viewed", "type": "string", "mergeop": "latest"}
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
    assert watched.lines_read == 1
    counts = stats(empty)
    assert (counts["schema_writes"], counts["collect_requests"]) == (before, 0)
    field = api(empty, "GET", "/v2/schema/user/field/wistia_percent_viewed")
    assert field["type"] == "string"
    assert [f["id"] for f in api(empty, "GET", "/v2/schema/user/field")] == [
        "wistia_percent_viewed"
    ]
    with pytest.raises(LyticsSchemaError, match="conflicting field wistia_percent_viewed"):
        run(empty, [session(1)])  # check lists it too, next to what is missing


def test_a_colleagues_unpublished_field_stops_apply_naming_it_and_nothing_is_published_or_sent(
    direct, capfd
):
    api(direct, "POST", "/v2/schema/user/field", {"id": "their_field", "type": "string"})
    before = stats(direct)["schema_writes"]
    capfd.readouterr()
    with pytest.raises(LyticsSchemaError) as caught:
        run(direct, [session(1)], schema_mode="apply")
    message = str(caught.value)
    assert "did not make:\n  - field their_field (" in message
    assert "nothing was published and nothing sent; nothing was changed" in message
    assert "publish or discard them in Lytics' Schema Studio" in message
    counts = stats(direct)
    assert (counts["schema_writes"], counts["collect_requests"]) == (before, 0)
    assert schema(direct)["versions"] == []
    assert requests_made(capfd.readouterr().err)[-1] == "GET /v2/schema/user/compare 200"


def test_an_apply_interrupted_before_its_publish_is_finished_by_the_next_run(direct, capfd):
    # A run killed after creating two fields: they sit in the draft, unpublished.
    for name in ("wistia_country", "wistia_state"):
        api(direct, "POST", "/v2/schema/user/field", {"id": name, "type": "string",
                                                      "mergeop": "latest"})  # fmt: skip
    capfd.readouterr()
    run(direct, [session(1, email="di@example.com")], schema_mode="apply")
    sent = requests_made(capfd.readouterr().err)
    assert sent.count("POST /v2/schema/user/field 201") == FIELDS - 2
    assert sent.count("POST /v2/schema/user/mapping 201") == FIELDS
    assert sent.count("POST /v2/schema/user/publish 200") == 1
    assert profiles(direct)[0]["email"] == "di@example.com"
    statuses = {f["id"]: f["edit_status"] for f in schema(direct)["fields"]}
    assert set(statuses.values()) == {"unmodified"}


@pytest.mark.parametrize("lost_as", ["reset", "timeout", "503"])
def test_a_field_create_whose_answer_is_lost_is_read_back_and_not_sent_twice(empty, lost_as, capfd):
    faults = {
        "lose_answer_next": 1,
        "lose_answer_with": lost_as,
        "timeout_seconds": 0.5,
        "fail_paths": ["/v2/schema/user/field"],
    }
    requests.post(f"{empty.url}/_sandbox/faults", json=faults, timeout=5).raise_for_status()
    run(empty, [session(1, email="ed@example.com")], schema_mode="apply")
    sent = requests_made(capfd.readouterr().err)
    at = sent.index("GET /v2/schema/user/field/wistia_country 200")  # the read back
    assert sent[at + 1] == "POST /v2/schema/user/field 201"  # the next field, not this one again
    assert stats(empty)["faults_injected"] == {f"lost answer ({lost_as})": 1}
    assert stats(empty)["schema_writes"] == 2 * FIELDS + 1  # each field once, one publish
    view = schema(empty)
    assert len(view["fields"]) == FIELDS
    assert len(view["versions"]) == 1
    assert profiles(empty)[0]["email"] == "ed@example.com"


# --- only the streams a run sends -----------------------------------------------------------------

SIGNUPS = {
    "type": "SCHEMA",
    "stream": "signups",
    "key_properties": ["email"],
    "schema": {"type": "object", "properties": {"email": {}, "plan": {}}},
}


def test_another_tap_into_an_account_without_wistia_fields_is_never_asked_for_them(
    empty, capfd, caplog
):
    TargetLytics(config=config(empty)).listen(
        io.StringIO(singer([{"email": "fi@example.com", "plan": "pro"}], SIGNUPS))
    )
    assert requests_made(capfd.readouterr().err) == [
        "GET /v2/account 200",
        *READS,  # what the account maps, for the warning below
        "POST /collect/json/signups 200",
    ]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "wistia" not in said.replace("'wistia_activity'", "")
    assert "schema_mode" not in said  # nothing advises apply
    [warning] = [w for w in warnings_of(caplog) if "has no mapping" in w]
    assert "no mapping of the account reads its fields email, plan" in warning


def test_a_run_that_never_sends_wistia_activity_sets_up_only_the_stream_it_sends(empty):
    mapping = {"signups": {"fields": {"email": {"from": "email", "as": "email",
                                                "identifier": True}, "plan": "plan"}}}  # fmt: skip
    text = singer([{"email": "Gus@Example.com", "plan": "pro"}], SIGNUPS)
    TargetLytics(config=config(empty, schema_mode="apply", mapping=mapping)).listen(
        io.StringIO(text)
    )
    assert sorted(f["id"] for f in schema(empty)["fields"]) == ["email", "plan"]
    assert [(m["field"], m["stream"]) for m in schema(empty)["mappings"]] == [
        ("email", "signups"),
        ("plan", "signups"),
    ]
    [profile] = profiles(empty)
    assert (profile["email"], profile["plan"]) == ("gus@example.com", "pro")


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


def test_a_parent_token_writes_to_its_own_account_and_account_id_only_checks_it():
    with LyticsSandbox(tokens={TOKEN: ["acct-prod", "acct-dev"]}) as sandbox:
        run(sandbox, [session(1)], account_id="acct-prod")
        with pytest.raises(LyticsAccountError) as caught:
            run(sandbox, [session(2)], account_id="acct-dev")
        message = str(caught.value)
        assert "account_id is 'acct-dev'" in message
        assert "belongs to the Lytics account acct-prod (aid 1234, Sandbox Account acct-prod)" in (
            message
        )
        assert TOKEN not in message

        def streams(account: str) -> dict[str, int]:
            url = f"{sandbox.url}/_sandbox/streams"
            return requests.get(url, params={"account": account}, timeout=5).json()

        assert (streams("acct-prod"), streams("acct-dev")) == ({"wistia_activity": 1}, {})
        assert stats(sandbox)["account_id_queries"] == 0


def test_schema_reads_are_retried_like_collects(empty):
    requests.post(
        f"{empty.url}/_sandbox/faults",
        json={"fail_next": [503, 429, 502], "fail_paths": ["/v2/schema/user/"]},
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
    assert "for reading the account's user fields" in message
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
