"""The Lytics sandbox over real HTTP, its profile merge as pure functions, and its CLI."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from itertools import permutations
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from target_lytics.sandbox import DEFAULT_TOKEN, EXPIRED_TOKEN, Faults, LyticsSandbox
from target_lytics.sandbox.collect import (
    MAX_BATCH_RECORD_BYTES,
    MAX_BODY_BYTES,
    MAX_SINGLE_RECORD_BYTES,
)
from target_lytics.sandbox.presets import start_schema
from target_lytics.sandbox.profiles import (
    ProfileBook,
    ProfileSchema,
    fragment,
    merge_fragments,
    merge_states,
    parse_event_time,
    render,
)
from target_lytics.sandbox.store import EventStore, NewEvent

if TYPE_CHECKING:
    from collections.abc import Iterator

AUTH = {"Authorization": DEFAULT_TOKEN}
STREAM = "wistia_activity"


@pytest.fixture
def lytics() -> Iterator[LyticsSandbox]:
    with LyticsSandbox() as sandbox:
        yield sandbox


def collect(
    sandbox: LyticsSandbox, body: Any, stream: str = STREAM, **params: Any
) -> requests.Response:
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return requests.post(
        f"{sandbox.url}/collect/json/{stream}",
        data=data,
        params=params,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )


def collected(sandbox: LyticsSandbox, body: Any, **params: Any) -> dict[str, Any]:
    response = collect(sandbox, body, **params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def admin(sandbox: LyticsSandbox, path: str, **params: Any) -> Any:
    response = requests.get(f"{sandbox.url}/_sandbox/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def entity(sandbox: LyticsSandbox, field: str, value: str) -> requests.Response:
    return requests.get(f"{sandbox.url}/api/entity/user/{field}/{value}", headers=AUTH, timeout=10)


def sized_record(size: int, **fields: Any) -> dict[str, Any]:
    """A record whose compact JSON is exactly ``size`` bytes."""
    record = {**fields, "pad": ""}
    record["pad"] = "x" * (size - len(msgspec.json.encode(record)))
    assert len(msgspec.json.encode(record)) == size
    return record


# --- auth ------------------------------------------------------------------------------------


def test_account_endpoints_list_the_tokens_accounts_and_show_one(lytics):
    listing = requests.get(f"{lytics.url}/api/account", headers=AUTH, timeout=5)
    assert listing.status_code == 200
    body = listing.json()
    assert (body["status"], body["message"]) == (200, "success")
    [account] = body["data"]  # a list, as Lytics' Go SDK reads it
    assert (account["id"], account["aid"]) == ("acct-sandbox", 1234)
    assert account["name"] == "Sandbox Account acct-sandbox"
    for path in ("/api/account/acct-sandbox", "/api/account/1234"):
        one = requests.get(lytics.url + path, headers=AUTH, timeout=5).json()["data"]
        assert one == account
    [own] = requests.get(f"{lytics.url}/v2/account", headers=AUTH, timeout=5).json()["data"]
    assert own == {**account, "parentaid": 0}  # one account: the list holds it alone
    other = requests.get(f"{lytics.url}/api/account/acct-other", headers=AUTH, timeout=5)
    assert other.status_code == 404


def test_a_parent_token_lists_its_family_and_writes_to_its_own_account_whatever_account_id():
    tokens = {DEFAULT_TOKEN: ["acct-prod", "acct-dev"]}
    with LyticsSandbox(tokens=tokens, preset="empty") as sandbox:
        listing = requests.get(f"{sandbox.url}/api/account", headers=AUTH, timeout=5).json()
        assert [a["id"] for a in listing["data"]] == ["acct-prod", "acct-dev"]
        family = requests.get(f"{sandbox.url}/v2/account", headers=AUTH, timeout=5).json()
        assert [(a["id"], a["aid"], a["parentaid"]) for a in family["data"]] == [
            ("acct-prod", 1234, 1234),  # the token's own: aid == parentaid
            ("acct-dev", 1235, 1234),
        ]
        assert collect(sandbox, {"x": 1}, account_id="acct-dev").status_code == 200
        assert collect(sandbox, {"x": 2}).status_code == 200
        assert admin(sandbox, "streams", account="acct-dev") == {}  # no parameter moves a write
        assert admin(sandbox, "streams", account="acct-prod") == {STREAM: 2}
        assert admin(sandbox, "stats")["account_id_queries"] == 1


def test_bearer_prefix_missing_and_unknown_tokens_get_401_not_authorized(lytics):
    for headers in ({"Authorization": f"Bearer {DEFAULT_TOKEN}"}, {}, {"Authorization": "nope"}):
        response = requests.get(f"{lytics.url}/api/account", headers=headers, timeout=5)
        assert response.status_code == 401
        body = response.json()
        assert body["status"] == 401
        assert body["message"] == "Not authorized"
        assert body["request_id"]
    assert collect(lytics, {"email": "a@b.co"}).status_code == 200
    bearer = requests.post(
        f"{lytics.url}/collect/json/{STREAM}",
        json={"email": "a@b.co"},
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=5,
    )
    assert bearer.status_code == 401
    assert admin(lytics, "streams") == {STREAM: 1}


def test_expired_token_says_expired_token(lytics):
    response = requests.get(
        f"{lytics.url}/api/account", headers={"Authorization": EXPIRED_TOKEN}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["message"] == "Expired Token"


def test_legacy_query_token_works_but_is_counted(lytics):
    assert admin(lytics, "stats")["legacy_query_token"] == 0
    response = requests.get(
        f"{lytics.url}/api/account", params={"access_token": DEFAULT_TOKEN}, timeout=5
    )
    assert response.status_code == 200
    assert admin(lytics, "stats")["legacy_query_token"] == 1


def test_query_tokens_are_masked_in_the_request_log(capfd):
    with LyticsSandbox(log_requests=True) as sandbox:
        requests.get(f"{sandbox.url}/api/account?access_token={DEFAULT_TOKEN}", timeout=5)
        requests.get(f"{sandbox.url}/api/account?key={DEFAULT_TOKEN}&dryrun=true", timeout=5)
        requests.get(f"{sandbox.url}/api/account?{DEFAULT_TOKEN}", timeout=5)
    logged = capfd.readouterr().err
    assert "access_token=***" in logged
    assert "key=***&dryrun=true" in logged  # what is no secret stays readable
    assert "account?*** " in logged  # a bare item could be a token
    assert DEFAULT_TOKEN not in logged


def test_each_token_acts_on_its_own_account_only():
    tokens = {DEFAULT_TOKEN: "acct-sandbox", "other-token": "acct-other"}
    with LyticsSandbox(tokens=tokens) as sandbox:
        record = {"conversion_data": {"email": "a@b.co"}}
        assert collect(sandbox, record).status_code == 200
        assert collect(sandbox, record, account_id="acct-other").status_code == 200
        assert admin(sandbox, "streams", account="acct-other") == {}  # still the token's own
        other = requests.get(
            f"{sandbox.url}/api/account", headers={"Authorization": "other-token"}, timeout=5
        )
        assert other.json()["data"][0]["id"] == "acct-other"
        assert other.json()["data"][0]["aid"] != 1234
        # accounts do not see each other's profiles
        assert entity(sandbox, "email", "a@b.co").json()["message"] == "success"
        foreign = requests.get(
            f"{sandbox.url}/api/entity/user/email/a@b.co",
            headers={"Authorization": "other-token"},
            timeout=5,
        )
        assert foreign.json()["message"] == "Not Found"


# --- collect ---------------------------------------------------------------------------------


def test_array_and_object_bodies_are_stored_with_lytics_counts(lytics):
    data = collected(lytics, [{"email": "a@b.co", "n": 1}, {"email": "c@d.co", "n": 2}])
    assert data == {
        "message_count": 2,
        "rejected_count": 0,
        "content-type": "application/json",
        "dryrun": False,
        "timestamp_field": "",
        "filename": "",
    }
    data = collected(lytics, {"email": "e@f.co", "n": 3}, filename="part-1.json")
    assert (data["message_count"], data["rejected_count"], data["filename"]) == (
        1,
        0,
        "part-1.json",
    )
    assert admin(lytics, "streams") == {STREAM: 3}
    listed = admin(lytics, f"streams/{STREAM}/events")
    assert listed["total"] == 3
    assert [event["record"]["n"] for event in listed["events"]] == [3, 2, 1]  # newest first
    page = admin(lytics, f"streams/{STREAM}/events", limit=1, offset=1)
    assert [event["record"]["n"] for event in page["events"]] == [2]
    recent = requests.get(
        f"{lytics.url}/v2/stream/{STREAM}/events", params={"limit": 2}, headers=AUTH, timeout=5
    ).json()
    assert [record["n"] for record in recent["data"]] == [3, 2]
    stats = admin(lytics, "stats")
    assert (stats["collect_requests"], stats["records_received"], stats["records_stored"]) == (
        2,
        3,
        3,
    )


def test_stream_names_are_case_sensitive(lytics):
    collected(lytics, [{"email": "a@b.co"}])
    collect(lytics, [{"email": "a@b.co"}], stream="Wistia_Activity")
    assert admin(lytics, "streams") == {"Wistia_Activity": 1, STREAM: 1}


def test_dryrun_validates_but_stores_nothing(lytics):
    data = collected(lytics, [{"email": "a@b.co"}, 5], dryrun="true")
    assert (data["message_count"], data["rejected_count"], data["dryrun"]) == (2, 1, True)
    assert admin(lytics, "streams") == {}
    assert entity(lytics, "email", "a@b.co").json()["message"] == "Not Found"
    stats = admin(lytics, "stats")
    assert (stats["dryrun_requests"], stats["records_stored"]) == (1, 0)


def test_record_size_limits_16k_in_a_batch_and_4k_alone(lytics):
    batch = [
        sized_record(MAX_BATCH_RECORD_BYTES, email="a@b.co"),
        sized_record(MAX_BATCH_RECORD_BYTES + 1, email="a@b.co"),
        sized_record(MAX_SINGLE_RECORD_BYTES + 1, email="a@b.co"),
    ]
    data = collected(lytics, batch)
    assert (data["message_count"], data["rejected_count"]) == (3, 1)
    alone_ok = collected(lytics, sized_record(MAX_SINGLE_RECORD_BYTES, email="a@b.co"))
    assert alone_ok["rejected_count"] == 0
    alone_big = collected(lytics, sized_record(MAX_SINGLE_RECORD_BYTES + 1, email="a@b.co"))
    assert (alone_big["message_count"], alone_big["rejected_count"]) == (1, 1)
    assert admin(lytics, "streams") == {STREAM: 3}
    assert admin(lytics, "stats")["rejected_by_reason"] == {"too_large": 2}


def test_arrays_of_objects_anywhere_are_rejected_arrays_of_scalars_are_not(lytics):
    batch = [
        {"email": "a@b.co", "tags": ["x", 1, True], "nested": {"deep": [["p", "q"]]}},
        {"email": "a@b.co", "items": [{"sku": 1}]},
        {"email": "a@b.co", "nested": {"deeper": {"items": [1, {"sku": 1}]}}},
        {"email": "a@b.co", "grid": [[{"sku": 1}]]},
        {"email": "a@b.co", "text": "looks like [{ but is a string ,{"},
    ]
    data = collected(lytics, batch)
    assert (data["message_count"], data["rejected_count"]) == (5, 3)
    stored = [event["record"] for event in admin(lytics, f"streams/{STREAM}/events")["events"]]
    assert [record.get("text", record.get("tags")) for record in stored] == [
        "looks like [{ but is a string ,{",
        ["x", 1, True],
    ]


def test_identifiers_over_256_bytes_and_non_object_items_are_rejected(lytics):
    key_256 = "é" * 128  # 256 bytes in UTF-8
    batch = [  # identifiers as the account's mappings read them
        {"visitor_key": key_256},
        {"visitor_key": key_256 + "x"},
        {"conversion_data": {"email": "a" * 252 + "@b.co"}},  # 257 bytes
        {"email": "a" * 252 + "@b.co"},  # no mapping reads it: not an identifier here
        "not an object",
        [1, 2],
        None,
    ]
    data = collected(lytics, batch)
    assert (data["message_count"], data["rejected_count"]) == (7, 5)
    assert admin(lytics, "stats")["rejected_by_reason"] == {
        "identifier_too_long": 2,
        "not_an_object": 3,
    }


def test_invalid_bodies_get_400_with_lytics_error_shape(lytics):
    for body in (b"{not json", b"", b'"a string"', b"42"):
        response = collect(lytics, body)
        assert response.status_code == 400
        error = response.json()
        assert error["status"] == 400
        assert error["message"]
        assert error["request_id"].startswith("sbx-")
    assert admin(lytics, "streams") == {}


def test_bodies_over_10_mb_get_413_and_exactly_10_mb_passes(lytics):
    exactly = b"[]" + b" " * (MAX_BODY_BYTES - 2)  # whitespace keeps it valid JSON
    assert collect(lytics, exactly).status_code == 200
    response = collect(lytics, exactly + b" ")
    assert response.status_code == 413
    assert response.json()["message"] == "Request Entity Too Large"
    assert admin(lytics, "stats")["max_body_bytes"] == MAX_BODY_BYTES + 1
    assert collect(lytics, [{"email": "a@b.co"}]).status_code == 200  # connection still usable


def test_a_body_too_large_to_read_is_refused_before_it_is_sent(lytics):
    host, port = lytics.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(
            f"POST /collect/json/{STREAM} HTTP/1.1\r\nHost: x\r\nAuthorization: {DEFAULT_TOKEN}\r\n"
            "Content-Length: 100000000\r\n\r\n".encode()
        )
        answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")
    assert "Connection: close" in answer


def test_oversize_status_can_be_400_where_lytics_answers_so():
    with LyticsSandbox(oversize_status=400) as sandbox:
        response = collect(sandbox, b"[]" + b" " * MAX_BODY_BYTES)
        assert response.status_code == 400
        assert response.json()["message"] == "Request Entity Too Large"


def test_chunked_bodies_are_read(lytics):
    def chunks() -> Iterator[bytes]:
        yield b'[{"email": "a@b.co",'
        yield b' "n": 1}]'

    response = requests.post(
        f"{lytics.url}/collect/json/{STREAM}", data=chunks(), headers=AUTH, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["data"]["message_count"] == 1


def test_unknown_paths_get_404_json(lytics):
    response = requests.get(f"{lytics.url}/v2/nothing", headers=AUTH, timeout=5)
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "Not Found"  # /v2's envelope
    response = requests.get(f"{lytics.url}/api/nothing", headers=AUTH, timeout=5)
    assert (response.status_code, response.json()["message"]) == (404, "Not Found")
    assert requests.get(f"{lytics.url}/_sandbox/nothing", timeout=5).status_code == 404
    assert "GET /_sandbox/stats" in admin(lytics, "")["endpoints"]


# --- event time and profiles over HTTP --------------------------------------------------------


def converted(email: str, **fields: Any) -> dict[str, Any]:
    """A record of the Wistia import's stream whose mapping makes ``email`` an identity."""
    return {"conversion_data": {"email": email}, **fields}


def test_timestamp_field_orders_latest_even_when_posted_out_of_order(lytics):
    newer = converted("a@b.co", city="Paris", ended_at="2024-03-02T10:00:00Z")
    older = converted("a@b.co", city="Oslo", ended_at="2024-03-01T10:00:00Z")
    collected(lytics, [newer], timestamp_field="ended_at")
    collected(lytics, [older], timestamp_field="ended_at")
    profile = entity(lytics, "email", "a@b.co").json()["data"]
    assert profile["wistia_city"] == "Paris"
    assert profile["_created"] == "2024-03-01T10:00:00.000000Z"
    assert profile["_modified"] == "2024-03-02T10:00:00.000000Z"
    # without timestamp_field, arrival time decides: the later post wins
    collected(lytics, [{**newer, "conversion_data": {"email": "x@y.co"}}])
    collected(lytics, [{**older, "conversion_data": {"email": "x@y.co"}}])
    assert entity(lytics, "email", "x@y.co").json()["data"]["wistia_city"] == "Oslo"


def test_epoch_seconds_and_milliseconds_are_event_times(lytics):
    collected(
        lytics,
        [
            converted("a@b.co", city="ms", t=1_700_000_002_000),
            converted("a@b.co", city="s", t=1_700_000_001),
            converted("a@b.co", city="unparseable", t="yesterday"),
            converted("z@b.co", city="epoch", t=0),
        ],
        timestamp_field="t",
    )
    events = admin(lytics, f"streams/{STREAM}/events")["events"]
    times = {event["record"]["city"]: event["event_time"] for event in events}
    assert times["ms"] == "2023-11-14T22:13:22.000000Z"
    assert times["s"] == "2023-11-14T22:13:21.000000Z"
    assert times["epoch"] == "1970-01-01T00:00:00.000000Z"
    assert times["unparseable"] == events[1]["arrival"]  # falls back to arrival
    assert entity(lytics, "email", "a@b.co").json()["data"]["wistia_city"] == "unparseable"


def test_entity_lookups_found_not_found_and_v2_identity(lytics):
    collected(lytics, [converted(" Ann@Example.COM ", conversion={"first_name": "Ann"})])
    found = entity(lytics, "email", "ann@example.com")
    assert found.status_code == 200
    body = found.json()
    assert (body["status"], body["message"]) == (200, "success")
    assert body["data"]["email"] == "ann@example.com"
    assert body["data"]["_ids"] == {"email": ["ann@example.com"]}
    assert entity(lytics, "email", "ANN@example.com").json()["data"]["first_name"] == "Ann"

    missing = entity(lytics, "email", "bob@example.com")
    assert missing.status_code == 200  # Lytics answers "not found" with HTTP 200
    assert missing.json()["message"] == "Not Found"
    assert missing.json()["data"] is None

    v2 = f"{lytics.url}/v2/identity/user/email"
    assert requests.get(f"{v2}/ann@example.com", headers=AUTH, timeout=5).status_code == 200
    assert requests.get(f"{v2}/bob@example.com", headers=AUTH, timeout=5).status_code == 404
    not_identity = entity(lytics, "first_name", "Ann")
    assert not_identity.status_code == 400
    assert "identity field" in not_identity.json()["message"]


def wistia_record(visitor: str, media: str, ended_at: str, **fields: Any) -> dict[str, Any]:
    """A wistia_activity record as target-lytics sends it: the import's source fields."""
    record = {
        "visitor_key": visitor,
        "media_name": f"Video {media}",
        "media_id": media,
        "percent_viewed": fields.pop("percent", 0.5),
        "duration_viewed": fields.pop("duration", 30.0),
        "ended_at": ended_at,
    }
    if email := fields.pop("email", None):
        record["conversion_data"] = {"email": email}
    if first_name := fields.pop("first_name", None):
        record["conversion"] = {"first_name": first_name}
    return {**record, **fields}


def test_anonymous_sessions_join_the_profile_of_a_later_conversion(lytics):
    first = wistia_record("vk-1", "m-1", "2024-05-01T09:00:00.000000Z", city="Lyon")
    second = wistia_record("vk-1", "m-2", "2024-05-02T09:00:00.000000Z", city="Paris", percent=0.9)
    conversion = wistia_record(
        "vk-1",
        "m-1",
        "2024-05-01T12:00:00.000000Z",
        city="Nice",
        percent=1.0,
        duration=60.0,
        email="Ann@Example.com",
        first_name="Ann",
    )
    # posted out of time order: newest first, the conversion (middle time) last
    for record in (second, first, conversion):
        collected(lytics, [record], timestamp_field="ended_at")

    by_email = entity(lytics, "email", "ann@example.com").json()["data"]
    by_visitor = entity(lytics, "wistia_visitor_key", "vk-1").json()["data"]
    assert by_email == by_visitor
    assert by_email["_ids"] == {"email": ["ann@example.com"], "wistia_visitor_key": ["vk-1"]}
    assert by_email["wisita_media_ids"] == ["m-1", "m-2"]
    assert by_email["wistia_media_names"] == ["Video m-1", "Video m-2"]
    assert by_email["wisita_media_percent"] == {"m-1": 1.0, "m-2": 0.9}  # per-key latest
    assert by_email["wistia_media_duation"] == {"m-1": 60.0, "m-2": 30.0}
    assert by_email["wistia_city"] == "Paris"  # the newest session, though posted first
    assert by_email["wistia_percent_viewed"] == 0.9
    assert by_email["first_name"] == "Ann"
    assert by_email["email"] == "ann@example.com"
    assert by_email["_created"] == "2024-05-01T09:00:00.000000Z"
    assert by_email["_modified"] == "2024-05-02T09:00:00.000000Z"
    listing = admin(lytics, "profiles")
    assert listing["total"] == 1
    assert listing["profiles"] == [by_email]


def test_a_bridging_event_joins_two_existing_profiles(lytics):
    collected(lytics, [converted("a@b.co", org="Acme"), {"visitor_key": "vk", "city": "Lyon"}])
    assert admin(lytics, "profiles")["total"] == 2
    collected(lytics, [converted("A@B.co", visitor_key="vk")])
    listing = admin(lytics, "profiles")
    assert listing["total"] == 1
    profile = listing["profiles"][0]
    assert (profile["wistia_org"], profile["wistia_city"]) == ("Acme", "Lyon")


def test_profiles_listing_pages(lytics):
    collected(lytics, [converted(f"u{i}@b.co") for i in range(5)], timestamp_field="t")
    page = admin(lytics, "profiles", limit=2, offset=1)
    assert page["total"] == 5
    assert [p["email"] for p in page["profiles"]] == ["u1@b.co", "u2@b.co"]
    bad = requests.get(f"{lytics.url}/_sandbox/profiles", params={"limit": "x"}, timeout=5)
    assert bad.status_code == 400


def test_the_store_folds_profiles_in_the_background_once_ingest_pauses(tmp_path):
    schema = start_schema("wistia-import", schema_patches=False, now="")
    store = EventStore(tmp_path / "events.sqlite3", lambda _: schema.versions, fold_when_idle=0.05)
    try:
        events = [
            NewEvent(i, msgspec.json.encode(converted(f"u{i}@b.co")).decode()) for i in range(50)
        ]
        store.append("acct", STREAM, events, arrival=0)
        deadline = time.monotonic() + 5
        while store._folded_up_to < 50 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store._folded_up_to == 50
        assert store.profiles("acct", limit=1)[0] == 50
    finally:
        store.close()


# --- faults ----------------------------------------------------------------------------------


def set_faults(sandbox: LyticsSandbox, **settings: Any) -> dict[str, Any]:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json=settings, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_fail_next_answers_each_status_once_then_recovers(lytics):
    set_faults(lytics, fail_next=[429, 503, 500], retry_after_seconds=2)
    first = collect(lytics, [{"email": "a@b.co"}])
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "2"
    assert first.json()["status"] == 429
    assert first.json()["request_id"]
    second = collect(lytics, [{"email": "a@b.co"}])
    assert (second.status_code, "Retry-After" in second.headers) == (503, False)
    assert collect(lytics, [{"email": "a@b.co"}]).status_code == 500
    assert collect(lytics, [{"email": "a@b.co"}]).status_code == 200
    assert admin(lytics, "streams") == {STREAM: 1}
    assert admin(lytics, "stats")["faults_injected"] == {"429": 1, "500": 1, "503": 1}


def test_429_without_retry_after_setting_sends_no_header(lytics):
    lytics.faults = Faults(fail_next=[429])
    response = collect(lytics, [{"email": "a@b.co"}])
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


def test_faults_hit_collect_only_unless_fail_paths_widen_them(lytics):
    lytics.faults = Faults(fail_next=[503])
    assert requests.get(f"{lytics.url}/api/account", headers=AUTH, timeout=5).status_code == 200
    assert collect(lytics, [{"email": "a@b.co"}]).status_code == 503
    lytics.faults = Faults(fail_next=[503], fail_paths=["/"])
    assert requests.get(f"{lytics.url}/api/account", headers=AUTH, timeout=5).status_code == 503


def test_reject_next_answers_200_with_rejected_records_not_stored(lytics):
    set_faults(lytics, reject_next=1, reject_count=2)
    batch = [{"email": f"u{i}@b.co"} for i in range(5)]
    data = collected(lytics, batch)
    assert (data["message_count"], data["rejected_count"]) == (5, 2)
    assert admin(lytics, "streams") == {STREAM: 3}
    assert collected(lytics, batch)["rejected_count"] == 0
    assert admin(lytics, "stats")["rejected_by_reason"] == {"injected": 2}


def test_reject_where_rejects_every_record_holding_the_values_dry_runs_too(lytics):
    set_faults(lytics, reject_where={"email": "bad@b.co", "profile.plan": "gold"})
    bad = {"email": "bad@b.co", "profile": {"plan": "gold"}}
    batch = [{"email": "a@b.co"}, bad, {"email": "bad@b.co", "profile": {"plan": "free"}}]
    for _ in range(2):  # not used up
        data = collected(lytics, batch)
        assert (data["message_count"], data["rejected_count"]) == (3, 1)
    assert collected(lytics, [bad], dryrun="true")["rejected_count"] == 1
    assert collected(lytics, [{"email": "ok@b.co"}], dryrun="true")["rejected_count"] == 0
    assert admin(lytics, "streams") == {STREAM: 4}
    assert admin(lytics, "stats")["rejected_by_reason"] == {"reject_where": 3}


def test_timeout_next_hangs_then_drops_without_storing(lytics):
    set_faults(lytics, timeout_next=1, timeout_seconds=5)
    with pytest.raises(requests.ReadTimeout):  # no answer within 0.3 s: the sandbox hangs
        requests.post(
            f"{lytics.url}/collect/json/{STREAM}",
            json=[{"email": "a@b.co"}],
            headers=AUTH,
            timeout=(2, 0.3),
        )
    set_faults(lytics, timeout_next=1, timeout_seconds=0.2)
    with pytest.raises(requests.ConnectionError):
        collect(lytics, [{"email": "a@b.co"}])
    assert collect(lytics, [{"email": "a@b.co"}]).status_code == 200
    assert admin(lytics, "streams") == {STREAM: 1}
    assert admin(lytics, "stats")["faults_injected"] == {"timeout": 2}


def test_reset_next_drops_the_connection(lytics):
    set_faults(lytics, reset_next=2)
    with requests.Session() as session:
        for _ in range(2):
            with pytest.raises(requests.ConnectionError):
                session.post(
                    f"{lytics.url}/collect/json/{STREAM}",
                    json={"email": "a@b.co"},
                    headers=AUTH,
                    timeout=5,
                )
        assert (
            session.post(
                f"{lytics.url}/collect/json/{STREAM}",
                json={"email": "a@b.co"},
                headers=AUTH,
                timeout=5,
            ).status_code
            == 200
        )
    assert admin(lytics, "streams") == {STREAM: 1}
    assert admin(lytics, "stats")["faults_injected"] == {"reset": 2}


def test_latency_delays_api_requests_not_admin_ones():
    # Timeouts far from the latency, so a loaded machine cannot change the outcome.
    with LyticsSandbox(faults=Faults(latency_ms=3000)) as sandbox:
        stats = requests.get(f"{sandbox.url}/_sandbox/stats", timeout=1.5)
        assert stats.status_code == 200
        with pytest.raises(requests.ReadTimeout):
            requests.post(
                f"{sandbox.url}/collect/json/{STREAM}",
                json={"email": "a@b.co"},
                headers=AUTH,
                timeout=(2, 1.0),
            )


def test_fault_settings_round_trip_and_bad_ones_are_refused_by_name(lytics):
    shown = set_faults(lytics, fail_next=[502], latency_ms=0)
    assert shown["fail_next"] == [502]
    assert admin(lytics, "faults")["fail_next"] == [502]
    for bad, named in (
        ({"fail_next": [200]}, "fail_next"),
        ({"reject_next": -1}, "reject_next"),
        ({"latency": 5}, "latency"),
        ({"fail_paths": "/"}, "fail_paths"),
        ({"retry_after": 2}, "retry_after"),
        ({"reject_where": {"email": ["a", "b"]}}, "reject_where"),
        ({"reject_where": "email=a"}, "reject_where"),
    ):
        response = requests.post(f"{lytics.url}/_sandbox/faults", json=bad, timeout=5)
        assert response.status_code == 400
        assert named in response.json()["message"]
    assert admin(lytics, "faults")["fail_next"] == [502]  # refused settings change nothing


def test_stats_reset_and_full_reset(lytics):
    collected(lytics, [converted("a@b.co")])
    assert admin(lytics, "stats")["requests"] == 1
    assert requests.post(f"{lytics.url}/_sandbox/reset-stats", timeout=5).status_code == 200
    stats = admin(lytics, "stats")
    assert (stats["requests"], stats["records_stored"], stats["by_status"]) == (0, 0, {})
    assert admin(lytics, "streams") == {STREAM: 1}  # data is kept
    assert requests.post(f"{lytics.url}/_sandbox/reset", timeout=5).status_code == 200
    assert admin(lytics, "streams") == {}
    assert admin(lytics, "profiles")["total"] == 0


# --- persistence and CLI ---------------------------------------------------------------------


def test_memory_database_means_a_temporary_file():
    with LyticsSandbox(db_path=":memory:") as sandbox:
        collected(sandbox, [converted("a@b.co")])
        assert entity(sandbox, "email", "a@b.co").json()["message"] == "success"
        temporary = sandbox.db_path
        assert temporary.exists()
    assert not temporary.exists()


def test_data_and_profiles_survive_a_restart(tmp_path):
    db = tmp_path / "lytics.sqlite3"
    with LyticsSandbox(db_path=db) as sandbox:
        collected(sandbox, [wistia_record("vk-1", "m-1", "2024-01-01T00:00:00Z")])
        collected(sandbox, [wistia_record("vk-1", "m-2", "2024-01-02T00:00:00Z", email="a@b.co")])
    with LyticsSandbox(db_path=db) as sandbox:
        assert admin(sandbox, "streams") == {STREAM: 2}
        profile = entity(sandbox, "email", "a@b.co").json()["data"]
        assert profile["wisita_media_ids"] == ["m-1", "m-2"]
        collected(sandbox, [converted("a@b.co", later=True)])
        assert admin(sandbox, f"streams/{STREAM}/events")["events"][0]["id"] == 3
    assert db.exists()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "target_lytics.sandbox", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.e2e  # runs a process
def test_cli_prints_profiles_of_a_database_without_a_server(tmp_path):
    db = tmp_path / "lytics.sqlite3"
    with LyticsSandbox(db_path=db) as sandbox:
        collected(sandbox, [converted(f"u{i}@b.co", n=i) for i in range(3)], timestamp_field="t")
    done = run_cli("profiles", "--db", str(db), "--limit", "2")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [profile["email"] for profile in lines] == ["u0@b.co", "u1@b.co"]
    missing = run_cli("profiles", "--db", str(tmp_path / "none.sqlite3"))
    assert missing.returncode == 2
    assert "no sandbox database" in missing.stderr


@pytest.mark.e2e  # runs a process
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_a_signal_and_exits_0(tmp_path, stop_signal):
    ready = tmp_path / "ready.json"
    db = tmp_path / "lytics.sqlite3"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "target_lytics.sandbox",
            "--port",
            "0",
            "--db",
            str(db),
            "--ready-file",
            str(ready),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        announced = json.loads(ready.read_text())
        assert announced["pid"] == process.pid
        url = announced["url"]
        assert url.startswith("http://127.0.0.1:")
        account = requests.get(f"{url}/api/account", headers=AUTH, timeout=5)
        assert account.json()["data"][0]["id"] == "acct-sandbox"
        process.send_signal(stop_signal)
        out, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert url in out
    assert DEFAULT_TOKEN in out


@pytest.mark.e2e  # runs a process
def test_cli_says_clearly_when_the_port_is_taken(lytics):
    port = lytics.url.rsplit(":", 1)[1]
    done = run_cli("--port", port, "--quiet")
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


# --- the pure merge --------------------------------------------------------------------------


def test_event_times_parse_iso_and_epoch_forms():
    assert parse_event_time("2024-01-01T00:00:00Z") == 1_704_067_200_000_000
    assert parse_event_time("2024-01-01T01:00:00+01:00") == 1_704_067_200_000_000
    assert parse_event_time("2024-01-01T00:00:00") == 1_704_067_200_000_000  # naive is UTC
    assert parse_event_time(1_704_067_200) == 1_704_067_200_000_000
    assert parse_event_time(1_704_067_200_500) == 1_704_067_200_500_000
    assert parse_event_time("1704067200") == 1_704_067_200_000_000
    for unusable in (None, True, "soon", "", [1], 1e300, float("nan")):
        assert parse_event_time(unusable) is None


def test_emails_are_normalised_and_invalid_ones_identify_nobody():
    profiles = merge_fragments(
        [
            (1, 1, {"email": " A@B.CO ", "x": 1}),
            (2, 2, {"email": "a@b.co", "y": 2}),
            (3, 3, {"email": "not-an-email", "z": 3}),
            (4, 4, {"wistia_visitor_key": 42, "w": 4}),
        ]
    )
    assert [p["_ids"] for p in profiles] == [
        {"email": ["a@b.co"]},
        {"wistia_visitor_key": ["42"]},
    ]
    assert (profiles[0]["x"], profiles[0]["y"], profiles[0]["email"]) == (1, 2, "a@b.co")


def test_latest_ties_go_to_the_later_arrival_and_oldest_to_the_earlier():
    schema = ProfileSchema(ops={"first_city": "oldest"})
    events = [
        (5, 1, {"email": "a@b.co", "city": "A", "first_city": "A"}),
        (5, 2, {"email": "a@b.co", "city": "B", "first_city": "B"}),
    ]
    for order in permutations(events):
        [profile] = merge_fragments(order, schema)
        assert (profile["city"], profile["first_city"]) == ("B", "A")


def test_numeric_ops_and_shape_conflicts():
    schema = ProfileSchema(
        ops={"low": "min", "high": "max", "total": "sum", "visits": "count", "tags": "merge"}
    )
    events: list[tuple[int, int, dict[str, Any]]] = [
        (1, 1, {"email": "a@b.co", "low": 5, "high": 5, "total": 2, "visits": "x", "tags": "t1"}),
        (2, 2, {"email": "a@b.co", "low": 3, "high": 9, "total": 3, "visits": "y", "mixed": 1}),
        (3, 3, {"email": "a@b.co", "low": "n/a", "tags": ["t2", "t1"], "mixed": ["m"]}),
    ]
    [profile] = merge_fragments(events, schema)
    assert (profile["low"], profile["high"], profile["total"], profile["visits"]) == (3, 9, 5, 2)
    assert profile["tags"] == ["t1", "t2"]
    assert profile["mixed"] == ["m"]  # the shape of the newest value wins


def test_unknown_merge_op_is_refused_by_field():
    with pytest.raises(ValueError, match="'score'"):
        ProfileSchema(ops={"score": "average"})  # type: ignore[dict-item]


visitor_keys = st.sampled_from(["vk-1", "vk-2", "vk-3", "vk-4"])
emails = st.sampled_from(["ann@x.co", "ANN@x.co ", "bob@x.co", "cy@x.co"])
media = st.sampled_from(["m-1", "m-2", "m-3"])
scalars = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "b", "c"]), st.booleans())
records = st.fixed_dictionaries(
    {},
    optional={
        "wistia_visitor_key": visitor_keys,
        "email": emails,
        "wistia_city": st.sampled_from(["Lyon", "Paris", "Nice"]),
        "wisita_media_ids": st.lists(media, max_size=2),
        "wisita_media_percent": st.dictionaries(media, st.integers(0, 100), max_size=2),
        "shape_shifter": st.one_of(scalars, st.lists(scalars, max_size=2)),
        "total": st.integers(0, 9),
        "low": st.integers(0, 9),
        "first": scalars,
        "visits": scalars,
    },
)
SCHEMA = ProfileSchema(ops={"total": "sum", "low": "min", "first": "oldest", "visits": "count"})


@st.composite
def event_lists(draw: st.DrawFn) -> list[tuple[int, int, dict[str, Any]]]:
    bodies = draw(st.lists(records, max_size=12))
    times = draw(st.lists(st.integers(0, 4), min_size=len(bodies), max_size=len(bodies)))
    return [(time_, seq, body) for seq, (time_, body) in enumerate(zip(times, bodies, strict=True))]


@settings(max_examples=60, deadline=None)
@given(events=event_lists(), data=st.data())
def test_profiles_do_not_depend_on_arrival_order(events, data):
    shuffled = data.draw(st.permutations(events))
    assert merge_fragments(shuffled, SCHEMA) == merge_fragments(events, SCHEMA)


@settings(max_examples=60, deadline=None)
@given(events=event_lists(), data=st.data())
def test_merging_states_is_associative_and_commutative(events, data):
    pieces = [fragment(t, seq, body, SCHEMA) for t, seq, body in events]
    states = [piece for piece in pieces if piece is not None]
    if not states:
        return
    left = states[0]
    for state in states[1:]:
        left = merge_states(left, state)
    right = states[-1]
    for state in reversed(states[:-1]):
        right = merge_states(state, right)
    shuffled = data.draw(st.permutations(states))
    mixed = shuffled[0]
    for state in shuffled[1:]:
        mixed = (
            merge_states(state, mixed) if data.draw(st.booleans()) else merge_states(mixed, state)
        )
    assert render(left) == render(right) == render(mixed)


@settings(max_examples=60, deadline=None)
@given(events=event_lists(), cuts=st.lists(st.integers(0, 12), max_size=3))
def test_incremental_book_with_reads_between_equals_merging_all_at_once(events, cuts):
    book = ProfileBook(SCHEMA)
    start = 0
    for cut in sorted(cuts):
        for event in events[start:cut]:
            book.add(*event)
        book.profiles()  # a read in between must not change what follows
        start = max(start, cut)
    for event in events[start:]:
        book.add(*event)
    assert book.profiles() == merge_fragments(events, SCHEMA)


@settings(max_examples=50, deadline=None)
@given(events=event_lists())
def test_folding_fragments_equals_folding_records(events):
    book = ProfileBook(SCHEMA)
    for t, seq, body in events:
        piece = fragment(t, seq, body, SCHEMA)
        if piece is not None:
            book.add_fragment(piece)
    assert book.profiles() == merge_fragments(events, SCHEMA)
