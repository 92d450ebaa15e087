"""The Lytics sandbox's schema: its v2 API over HTTP (strict), and profiles built only through it.

Fields (lowercase keys only, a create is an upsert) and mappings land in a draft whose diff
`compare` shows (in either shape), publish makes them a version, a version builds profiles only
from records collected after it; patches work everywhere and patches accounts refuse direct
writes; /v2 errors come in /v2's envelope. Plus the pure parts: the LQL subset, type
conversion, and the merge ops a field can declare.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import requests

from target_lytics.sandbox import DEFAULT_TOKEN, LyticsSandbox
from target_lytics.sandbox.lql import LqlError, parse_expression, parse_guard
from target_lytics.sandbox.mapper import ProfileMapper, convert
from target_lytics.sandbox.schema import FieldDef, MappingDef, Version

if TYPE_CHECKING:
    from collections.abc import Iterator

AUTH = {"Authorization": DEFAULT_TOKEN}
STREAM = "signups"


@pytest.fixture
def empty() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty") as sandbox:
        yield sandbox


def call(sandbox: LyticsSandbox, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{sandbox.url}{path}", json=body, headers=AUTH, params={}, timeout=10
    )


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def said(response: requests.Response) -> str:
    """Lytics' words in a /v2 error: `.errors[0].message`."""
    body = response.json()
    assert set(body) == {"status", "errors", "request_id"}, body
    return body["errors"][0]["message"]


def field(name: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"id": name, "type": kind, "shortdesc": name, **extra}


def mapping(name: str, expr: str, stream: str = STREAM, **extra: Any) -> dict[str, Any]:
    return {"field": name, "stream": stream, "expr": expr, **extra}


def publish(sandbox: LyticsSandbox, tag: str = "add-fields") -> Any:
    return ok(call(sandbox, "POST", "/v2/schema/user/publish", {"tag": tag, "description": "d"}))


def collect(sandbox: LyticsSandbox, records: list[dict[str, Any]], stream: str = STREAM) -> None:
    response = requests.post(
        f"{sandbox.url}/collect/json/{stream}",
        data=msgspec.json.encode(records),
        params={"timestamp_field": "t"},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["rejected_count"] == 0


def profiles(sandbox: LyticsSandbox) -> list[dict[str, Any]]:
    return requests.get(f"{sandbox.url}/_sandbox/profiles", timeout=10).json()["profiles"]


def signups_schema(sandbox: LyticsSandbox) -> None:
    """email (identifier, by email()), plan (latest), tags (a set), visits (count)."""
    ok(call(sandbox, "POST", "/v2/schema/user/field", field("email", is_identifier=True)), 201)
    ok(call(sandbox, "POST", "/v2/schema/user/field", field("plan", mergeop="latest")), 201)
    ok(call(sandbox, "POST", "/v2/schema/user/field", field("tags", "[]string")), 201)
    ok(call(sandbox, "POST", "/v2/schema/user/field", field("visits", "int", mergeop="count")), 201)
    for name, expr in (("email", "email(contact.email)"), ("plan", "plan"), ("tags", "set(tag)")):
        ok(call(sandbox, "POST", "/v2/schema/user/mapping", mapping(name, expr)), 201)
    ok(call(sandbox, "POST", "/v2/schema/user/mapping", mapping("visits", "plan")), 201)


# --- fields, mappings, publish (direct writes) -------------------------------------------------


def test_a_field_is_created_in_the_draft_and_a_second_create_replaces_it_without_a_409(empty):
    created = ok(call(empty, "POST", "/v2/schema/user/field", field("plan", mergeop="oldest")), 201)
    assert created["id"] == "plan"
    assert (created["type"], created["mergeop"], created["edit_status"]) == (
        "string",
        "oldest",
        "new",
    )
    assert ok(call(empty, "GET", "/v2/schema/user/field/plan")) == created
    assert ok(call(empty, "GET", "/v2/schema/user/fieldnames")) == ["plan"]
    again = ok(call(empty, "POST", "/v2/schema/user/field", field("plan", "int")), 201)
    assert (again["type"], again["mergeop"]) == ("int", "")  # silently replaced: an upsert
    assert len(ok(call(empty, "GET", "/v2/schema/user/field"))) == 1
    missing = call(empty, "GET", "/v2/schema/user/field/nope")
    assert (missing.status_code, said(missing)) == (404, "field 'nope' not found")
    publish(empty)
    [listed] = ok(call(empty, "GET", "/v2/schema/user/field"))
    assert listed["edit_status"] == "unmodified"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Field": "plan", "Type": "string", "MergeOp": "latest"},
            "Attribute 'Field' is required for Field",
        ),
        (field("plan", "text"), "Attribute 'Type' must be one of"),
        (field("plan", mergeop="sum"), "Merge operation 'sum' is invalid for data type 'string'"),
        (field("tags", "[]string", mergeop="latest"), "is invalid for data type '[]string'"),
        (field("opted", "bool", mergeop="latest"), "'latest' is invalid for data type 'boolean'"),
        (field("email", mergeop="latest", is_identifier=True), "Identifier Field cannot define"),
        (field("first name"), "letters, digits and _ only"),
        (field("plan", is_pii="yes"), "is_pii must be true or false"),
        (field("plan", capacity=10), "only set and map fields have a capacity"),
    ],
)
def test_field_bodies_lytics_refuses_get_400_with_its_words(empty, body, message):
    response = call(empty, "POST", "/v2/schema/user/field", body)
    assert response.status_code == 400
    assert message in said(response)
    assert ok(call(empty, "GET", "/v2/schema/user/field")) == []


def test_sets_and_maps_show_a_capacity_and_identifiers_a_server_filled_merge_op(empty):
    ok(call(empty, "POST", "/v2/schema/user/field", field("tags", "[]string")), 201)
    ok(
        call(empty, "POST", "/v2/schema/user/field", field("seen", "map[string]int", capacity=50)),
        201,
    )
    ok(call(empty, "POST", "/v2/schema/user/field", field("email", is_identifier=True)), 201)
    ok(call(empty, "POST", "/v2/schema/user/field", field("opted", "bool")), 201)
    listed = {f["id"]: f for f in ok(call(empty, "GET", "/v2/schema/user/field"))}
    assert (listed["tags"]["capacity"], listed["seen"]["capacity"]) == (0, 50)
    assert "capacity" not in listed["email"]
    assert listed["email"]["mergeop"] == "latest"  # as Lytics' GET shows it; a POST refuses it


def test_v2_answers_in_its_own_envelope_and_api_in_its_own(empty):
    fields = call(empty, "GET", "/v2/schema/user/field").json()
    assert set(fields) == {"data", "status", "request_id"}
    accounts = call(empty, "GET", "/api/account").json()
    assert (accounts["status"], accounts["message"]) == (200, "success")
    refused = requests.get(
        f"{empty.url}/v2/schema/user/field", headers={"Authorization": "nope"}, timeout=5
    )
    assert refused.status_code == 401
    assert refused.json()["message"] == "Not authorized"  # before the API: /api's shape
    unknown = call(empty, "GET", "/api/account/setting/no_such_setting")
    assert (unknown.status_code, unknown.json()["data"]) == (404, None)
    assert unknown.json()["message"] == "Not Found"


def test_a_field_update_takes_the_full_definition_and_a_delete_is_staged(empty):
    ok(call(empty, "POST", "/v2/schema/user/field", field("email", is_identifier=True)), 201)
    ok(call(empty, "POST", "/v2/schema/user/field", field("plan")), 201)
    publish(empty)
    updated = ok(call(empty, "POST", "/v2/schema/user/field/plan", field("plan", mergeop="oldest")))
    assert (updated["mergeop"], updated["edit_status"]) == ("oldest", "modified")
    mismatch = call(empty, "POST", "/v2/schema/user/field/plan", field("other"))
    assert mismatch.status_code == 400
    # The old capitalised keys on an update: the name comes from the path, the rest is reset.
    old_keys = {"Field": "email", "Type": "string", "IsIdentifier": True}
    reset = call(empty, "POST", "/v2/schema/user/field/email", {**old_keys, "type": "string"})
    assert ok(reset)["is_identifier"] is False
    assert ok(call(empty, "DELETE", "/v2/schema/user/field/plan")) is None
    assert ok(call(empty, "GET", "/v2/schema/user/field/plan"))["edit_status"] == "deleted"
    assert ok(call(empty, "GET", "/v2/schema/user/fieldnames")) == ["email"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"field": "plan", "stream": STREAM}, 400, "a mapping needs expr"),
        (mapping("nope", "plan"), 400, "field 'nope' does not exist"),
        (mapping("plan", "hash.sha256(plan)"), 400, "hash.sha256() is not supported here"),
        (mapping("plan", "plan +"), 400, "invalid expression"),
        (mapping("plan", "map(plan)"), 400, "map() takes 2 arguments, got 1"),
        (mapping("plan", "plan", guard_expr="plan ~ 'x'"), 400, "invalid expression"),
        (mapping("plan", "'literal'"), 400, "expected a field or a function"),
    ],
)
def test_mappings_need_a_field_that_exists_and_lql_the_sandbox_evaluates(
    empty, body, status, message
):
    ok(call(empty, "POST", "/v2/schema/user/field", field("plan")), 201)
    response = call(empty, "POST", "/v2/schema/user/mapping", body)
    assert response.status_code == status
    assert message in said(response)


def test_a_mapping_create_always_adds_one_and_its_stream_never_changes(empty):
    ok(call(empty, "POST", "/v2/schema/user/field", field("plan")), 201)
    created = ok(call(empty, "POST", "/v2/schema/user/mapping", mapping("plan", "plan")), 201)
    assert (created["expr"], created["guard_expr"], created["edit_status"]) == ("plan", "", "new")
    again = ok(call(empty, "POST", "/v2/schema/user/mapping", mapping("plan", "plan")), 201)
    assert again["id"] != created["id"]  # no 409: a second mapping like the first
    other_stream = mapping("plan", "plan", stream="orders")
    assert call(empty, "POST", "/v2/schema/user/mapping", other_stream).status_code == 201
    key = created["id"]
    assert ok(call(empty, "GET", f"/v2/schema/user/mapping/{key}"))["field"] == "plan"
    changed = ok(call(empty, "POST", f"/v2/schema/user/mapping/{key}", mapping("plan", "level")))
    assert changed["expr"] == "level"
    moved = call(empty, "POST", f"/v2/schema/user/mapping/{key}", other_stream)
    assert (moved.status_code, said(moved)) == (
        400,
        "a mapping's stream cannot change: delete it, create another",
    )
    assert ok(call(empty, "DELETE", f"/v2/schema/user/mapping/{key}")) is None
    assert len(ok(call(empty, "GET", "/v2/schema/user/mapping"))) == 2  # a draft-only one goes


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tag": "add-plan"}, "tag and description are both required"),
        ({"description": "why"}, "tag and description are both required"),
        ({"tag": "Add Plan", "description": "why"}, "must be kebab-case"),
    ],
)
def test_publish_needs_a_kebab_tag_and_a_description(empty, body, message):
    ok(call(empty, "POST", "/v2/schema/user/field", field("plan")), 201)
    response = call(empty, "POST", "/v2/schema/user/publish", body)
    assert response.status_code == 400
    assert message in said(response)


def test_publishing_an_empty_draft_is_refused(empty):
    response = call(empty, "POST", "/v2/schema/user/publish", {"tag": "x", "description": "y"})
    assert response.status_code == 400
    assert "nothing to publish" in said(response)


@pytest.mark.parametrize("shape", ["grouped", "changes"])
def test_compare_shows_what_a_publish_would_ship_in_either_shape(shape):
    with LyticsSandbox(preset="empty", compare_shape=shape) as sandbox:
        assert ok(call(sandbox, "GET", "/v2/schema/user/compare")) in (
            {"fields": [], "mappings": []},
            {"changes": []},
        )
        ok(call(sandbox, "POST", "/v2/schema/user/field", field("plan")), 201)
        ok(call(sandbox, "POST", "/v2/schema/user/field", field("gone")), 201)
        publish(sandbox)
        ok(call(sandbox, "POST", "/v2/schema/user/field", field("tier")), 201)
        ok(call(sandbox, "POST", "/v2/schema/user/field/plan", field("plan", mergeop="oldest")))
        ok(call(sandbox, "DELETE", "/v2/schema/user/field/gone"))
        ok(call(sandbox, "POST", "/v2/schema/user/mapping", mapping("tier", "tier")), 201)
        diff = ok(call(sandbox, "GET", "/v2/schema/user/compare"))
    if shape == "grouped":
        assert [(f["id"], f["edit_status"]) for f in diff["fields"]] == [
            ("gone", "deleted"),
            ("plan", "modified"),
            ("tier", "new"),
        ]
        assert [(m["field"], m["edit_status"]) for m in diff["mappings"]] == [("tier", "new")]
    else:
        changes = [(c["kind"], c["action"], c["name"]) for c in diff["changes"]]
        assert changes[:3] == [
            ("field", "delete", "gone"),
            ("field", "update", "plan"),
            ("field", "create", "tier"),
        ]
        assert changes[3][:2] == ("mapping", "create")
        plan = diff["changes"][1]
        assert (plan["before"]["mergeop"], plan["after"]["mergeop"]) == ("", "oldest")
        assert diff["changes"][0]["after"] is None


def test_the_account_setting_says_whether_patches_are_on_unless_its_reading_is_refused():
    with LyticsSandbox(preset="empty", schema_patches=True) as sandbox:
        setting = ok(call(sandbox, "GET", "/api/account/setting/enable_schema_patches"))
        assert (setting["slug"], setting["value"]) == ("enable_schema_patches", True)
        assert [s["slug"] for s in ok(call(sandbox, "GET", "/api/account/setting"))] == [
            "enable_schema_patches"
        ]
    with LyticsSandbox(preset="empty", settings_readable=False) as sandbox:
        refused = call(sandbox, "GET", "/api/account/setting/enable_schema_patches")
        assert refused.status_code == 403
        assert refused.json()["data"] is None
        assert "may not read the account's settings" in refused.json()["message"]


def test_idconfig_is_404_until_set(empty):
    missing = call(empty, "GET", "/v2/schema/user/idconfig")
    assert missing.status_code == 404
    assert "Could not find rank settings for table user" in said(missing)
    idconfig = {"ranks": ["email", "wistia_visitor_key"]}
    setting = requests.post(
        f"{empty.url}/_sandbox/accounts/acct-sandbox/idconfig", json=idconfig, timeout=5
    )
    assert setting.status_code == 200
    assert ok(call(empty, "GET", "/v2/schema/user/idconfig")) == idconfig


def test_only_the_user_table_exists(empty):
    assert call(empty, "GET", "/v2/schema/content/field").status_code == 404


# --- profiles only through published mappings --------------------------------------------------


def test_records_reach_profiles_only_through_mappings_published_before_they_arrived(empty):
    collect(empty, [{"contact": {"email": "early@x.co"}, "plan": "free", "t": 1}])
    signups_schema(empty)
    collect(empty, [{"contact": {"email": "draft@x.co"}, "plan": "free", "t": 2}])
    assert profiles(empty) == []  # nothing published yet
    publish(empty)
    collect(
        empty,
        [
            {"contact": {"email": "Ann@X.co"}, "plan": "pro", "tag": "a", "unmapped": 1, "t": 3},
            {"contact": {"email": "ann@x.co"}, "plan": "team", "tag": ["b", "a"], "t": 4},
        ],
    )
    [profile] = profiles(empty)
    assert profile == {
        "email": "ann@x.co",
        "plan": "team",
        "tags": ["a", "b"],
        "visits": 2,
        "_ids": {"email": ["ann@x.co"]},
        "_created": "1970-01-01T00:00:03.000000Z",
        "_modified": "1970-01-01T00:00:04.000000Z",
    }
    # Unmapped fields and the early records stay in the stream, visible in its events and fields.
    events = ok(call(empty, "GET", f"/v2/stream/{STREAM}/events"))
    assert len(events) == 4
    fields = {
        item["field"]: item["count"]
        for item in ok(call(empty, "GET", f"/v2/stream/{STREAM}/fields"))
    }
    assert fields["unmapped"] == 1
    assert fields["contact.email"] == 4
    assert ok(call(empty, "GET", "/v2/stream/names")) == [STREAM]
    every = ok(call(empty, "GET", "/v2/stream/fields"))
    assert {"stream": STREAM, "field": "unmapped", "count": 1} in every


def test_a_guard_decides_which_mapping_applies(empty):
    ok(call(empty, "POST", "/v2/schema/user/field", field("email", is_identifier=True)), 201)
    ok(call(empty, "POST", "/v2/schema/user/field", field("tier")), 201)
    ok(call(empty, "POST", "/v2/schema/user/mapping", mapping("email", "email(mail)")), 201)
    paid = mapping("tier", "plan", guard_expr="paid = true")
    ok(call(empty, "POST", "/v2/schema/user/mapping", paid), 201)
    publish(empty)
    collect(
        empty,
        [
            {"mail": "a@x.co", "plan": "pro", "paid": True, "t": 1},
            {"mail": "b@x.co", "plan": "trial", "paid": False, "t": 1},
        ],
    )
    tiers = {p["email"]: p.get("tier") for p in profiles(empty)}
    assert tiers == {"a@x.co": "pro", "b@x.co": None}


def test_merge_ops_declared_on_fields_decide_the_profile(empty):
    specs = [
        field("email", is_identifier=True),
        field("first_plan", mergeop="oldest"),
        field("best", "number", mergeop="max"),
        field("total", "number", mergeop="sum"),
        field("per_media", "map[string]number", mergeop="mapmax"),
        field("first_seen", "map[string]string", mergeop="oldestmap"),
        field("latest_seen", "map[string]string", mergeop="latestmap"),
    ]
    for spec in specs:
        ok(call(empty, "POST", "/v2/schema/user/field", spec), 201)
    for name, expr in (
        ("email", "email(mail)"),
        ("first_plan", "plan"),
        ("best", "score"),
        ("total", "score"),
        ("per_media", "map(media, score)"),
        ("first_seen", "map(media, day)"),
        ("latest_seen", "map(media, day)"),
    ):
        ok(call(empty, "POST", "/v2/schema/user/mapping", mapping(name, expr)), 201)
    publish(empty)
    collect(
        empty,
        [
            {"mail": "a@x.co", "plan": "pro", "score": 0.5, "media": "m1", "day": "mon", "t": 2},
            {
                "mail": "a@x.co",
                "plan": "free",
                "score": "0.25",
                "media": "m1",
                "day": "sun",
                "t": 1,
            },
            {"mail": "a@x.co", "plan": "team", "score": 0.75, "media": "m2", "day": "tue", "t": 3},
        ],
    )
    [profile] = profiles(empty)
    assert profile["first_plan"] == "free"
    assert profile["best"] == 0.75
    assert profile["total"] == 1.5  # "0.25" is converted to the field's type, number
    assert profile["per_media"] == {"m1": 0.5, "m2": 0.75}
    assert profile["first_seen"] == {"m1": "sun", "m2": "tue"}
    assert profile["latest_seen"] == {"m1": "mon", "m2": "tue"}


def test_identifier_values_over_256_bytes_are_rejected_through_the_mapping(empty):
    signups_schema(empty)
    publish(empty)
    response = requests.post(
        f"{empty.url}/collect/json/{STREAM}",
        data=msgspec.json.encode(
            [{"contact": {"email": "a" * 300 + "@x.co"}}, {"email": "b" * 300}]
        ),
        headers=AUTH,
        timeout=10,
    )
    assert response.json()["data"]["rejected_count"] == 1  # only the mapped identifier counts


# --- schema patches -------------------------------------------------------------------------


@pytest.fixture
def patches() -> Iterator[LyticsSandbox]:
    with LyticsSandbox(preset="empty", schema_patches=True) as sandbox:
        yield sandbox


def test_an_account_with_schema_patches_refuses_direct_writes(patches):
    for path, body in (
        ("/v2/schema/user/field", field("plan")),
        ("/v2/schema/user/mapping", mapping("plan", "plan")),
        ("/v2/schema/user/publish", {"tag": "x", "description": "y"}),
    ):
        refused = call(patches, "POST", path, body)
        assert refused.status_code == 400
        assert "enable_schema_patches" in said(refused)
    assert ok(call(patches, "GET", "/v2/schema/patch/user")) == []  # 200 even when empty


def test_the_patch_listing_answers_200_on_every_account_so_it_tells_no_mode(empty):
    assert ok(call(empty, "GET", "/v2/schema/patch/user")) == []
    patch = ok(call(empty, "POST", "/v2/schema/patch/user", {"tag": "t", "description": "d"}), 201)
    assert [p["id"] for p in ok(call(empty, "GET", "/v2/schema/patch/user"))] == [patch["id"]]


def test_a_patch_takes_lower_case_fields_and_mappings_and_applies_as_one_version(patches):
    assert call(patches, "POST", "/v2/schema/patch/user", {"tag": "x"}).status_code == 400
    patch = ok(
        call(patches, "POST", "/v2/schema/patch/user", {"tag": "add-plan", "description": "d"}), 201
    )
    base = f"/v2/schema/patch/user/{patch['id']}"
    capitalised = call(patches, "POST", f"{base}/field", {"Field": "plan", "Type": "string"})
    assert capitalised.status_code == 400
    assert said(capitalised) == "Attribute 'Field' is required for Field"
    lower = {"id": "email", "type": "string", "shortdesc": "Email", "is_identifier": True}
    assert ok(call(patches, "POST", f"{base}/field", lower), 201)["edit_status"] == "new"
    missing_field = call(patches, "POST", f"{base}/mapping", mapping("plan", "plan"))
    assert missing_field.status_code == 400
    ok(call(patches, "POST", f"{base}/mapping", mapping("email", "email(mail)")), 201)
    view = ok(call(patches, "GET", base))
    assert ([f["id"] for f in view["fields"]], view["state"]) == (["email"], "draft")
    collect(patches, [{"mail": "before@x.co", "t": 1}])
    version = ok(call(patches, "POST", f"{base}/apply"))
    assert (version["version"], version["tag"], version["fields"]) == (1, "add-plan", 1)
    assert call(patches, "POST", f"{base}/apply").status_code == 409
    collect(patches, [{"mail": "after@x.co", "t": 2}])
    assert [p["email"] for p in profiles(patches)] == ["after@x.co"]
    [listed] = ok(call(patches, "GET", "/v2/schema/user/field"))
    assert listed["edit_status"] == "unmodified"


def test_an_unapplied_patch_can_be_discarded(patches):
    patch = ok(
        call(patches, "POST", "/v2/schema/patch/user", {"tag": "t", "description": "d"}), 201
    )
    assert ok(call(patches, "DELETE", f"/v2/schema/patch/user/{patch['id']}")) is None
    assert ok(call(patches, "GET", "/v2/schema/patch/user")) == []


# --- accounts: presets, admin API, persistence ----------------------------------------------------


def test_accounts_are_created_through_the_admin_api_each_with_its_own_schema(empty):
    for spec in (
        {"id": "acct-import", "token": "tok-import"},
        {"id": "acct-patch", "token": "tok-patch", "preset": "empty", "schema_patches": True},
    ):
        assert (
            requests.post(f"{empty.url}/_sandbox/accounts", json=spec, timeout=5).status_code == 201
        )
    listed = requests.get(f"{empty.url}/_sandbox/accounts", timeout=5).json()["accounts"]
    assert [(a["id"], a["preset"], a["enable_schema_patches"]) for a in listed] == [
        ("acct-sandbox", "empty", False),
        ("acct-import", "wistia-import", False),
        ("acct-patch", "empty", True),
    ]
    assert all("token" not in json.dumps(a) for a in listed)
    imported = requests.get(
        f"{empty.url}/v2/schema/user/field", headers={"Authorization": "tok-import"}, timeout=5
    )
    assert len(imported.json()["data"]) == 14
    bad = requests.post(
        f"{empty.url}/_sandbox/accounts",
        json={"id": "x", "token": "y", "preset": "full"},
        timeout=5,
    )
    assert bad.status_code == 400
    assert "preset 'full'" in bad.json()["message"]  # the admin API: no Lytics envelope


def test_the_wistia_import_preset_holds_the_documented_fields_and_mappings():
    with LyticsSandbox() as sandbox:
        fields = {f["id"]: f for f in ok(call(sandbox, "GET", "/v2/schema/user/field"))}
        mappings = {
            m["field"]: m["expr"] for m in ok(call(sandbox, "GET", "/v2/schema/user/mapping"))
        }
    assert fields["wisita_media_percent"]["type"] == "map[string]number"
    assert fields["email"]["is_identifier"]
    assert fields["wistia_visitor_key"]["is_identifier"]
    assert fields["wistia_city"]["mergeop"] == "latest"
    assert mappings["wistia_media_duation"] == "map(media_id, duration_viewed)"
    assert mappings["first_name"] == "conversion.first_name"
    assert mappings["email"] == "email(conversion_data.email)"
    assert len(fields) == len(mappings) == 14


def test_a_reset_puts_every_account_back_to_its_preset(empty):
    signups_schema(empty)
    publish(empty)
    assert requests.post(f"{empty.url}/_sandbox/reset", timeout=5).status_code == 200
    assert ok(call(empty, "GET", "/v2/schema/user/field")) == []


def test_schemas_drafts_and_versions_survive_a_restart(tmp_path):
    db = tmp_path / "lytics.sqlite3"
    with LyticsSandbox(db_path=db, preset="empty") as sandbox:
        signups_schema(sandbox)
        publish(sandbox)
        collect(sandbox, [{"contact": {"email": "a@x.co"}, "plan": "pro", "t": 1}])
        ok(call(sandbox, "POST", "/v2/schema/user/field", field("staged")), 201)
    with LyticsSandbox(db_path=db, preset="empty") as sandbox:
        statuses = {
            f["id"]: f["edit_status"] for f in ok(call(sandbox, "GET", "/v2/schema/user/field"))
        }
        assert statuses["staged"] == "new"
        assert statuses["plan"] == "unmodified"
        assert [p["plan"] for p in profiles(sandbox)] == ["pro"]  # rebuilt from the events


@pytest.mark.e2e  # runs a process
def test_the_cli_shows_the_schema_next_to_the_profiles(tmp_path):
    db = tmp_path / "lytics.sqlite3"
    with LyticsSandbox(db_path=db, preset="empty") as sandbox:
        signups_schema(sandbox)
        publish(sandbox, "signups-fields")
        collect(sandbox, [{"contact": {"email": "a@x.co"}, "plan": "pro", "t": 1}])
    done = subprocess.run(
        [sys.executable, "-m", "target_lytics.sandbox", "profiles", "--db", str(db), "--schema"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# account acct-sandbox (empty): 1 published versions")
    assert any("version 1 'signups-fields'" in line for line in lines)
    assert any(line.split()[1:4] == ["email", "string", "identifier"] for line in lines)
    assert any("plan <- signups: plan" in line and "published" in line for line in lines)
    assert json.loads(lines[-1])["plan"] == "pro"
    schema_only = subprocess.run(
        [sys.executable, "-m", "target_lytics.sandbox", "schema", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert schema_only.stdout.splitlines() == lines[:-1]


# --- the LQL subset and type conversion (pure) --------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "record", "value"),
    [
        ("city", {"city": "Lyon"}, "Lyon"),
        ("conversion_data.email", {"conversion_data": {"email": "a@b.co"}}, "a@b.co"),
        ("conversion_data.email", {"conversion_data.email": "dotted@b.co"}, "dotted@b.co"),
        ("`first name`", {"first name": "Ann"}, "Ann"),
        ("set(media_id)", {"media_id": "m1"}, ["m1"]),
        ("set(tags)", {"tags": ["a", None, {"x": 1}, "b"]}, ["a", "b"]),
        ("set(missing)", {}, None),
        ("map(media_id, percent)", {"media_id": 7, "percent": 0.5}, {"7": 0.5}),
        ("map(media_id, percent)", {"media_id": " ", "percent": 0.5}, None),
        ("map(media_id, percent)", {"media_id": "m"}, None),
        ("email(mail)", {"mail": " Ann@Example.COM "}, "ann@example.com"),
        ("email(mail)", {"mail": "not-an-email"}, None),
        ("EMAIL(mail)", {"mail": "a@b.co"}, "a@b.co"),
        ("todate(day)", {"day": "2024-01-02T03:04:05Z"}, "2024-01-02T03:04:05.000000Z"),
        ("todate(day)", {"day": 0}, "1970-01-01T00:00:00.000000Z"),
        ("set(email(mail))", {"mail": "A@b.co"}, ["a@b.co"]),
    ],
)
def test_expressions_evaluate_as_lytics_mappings_do(expr, record, value):
    assert parse_expression(expr).evaluate(record) == value


@pytest.mark.parametrize(
    "expr", ["", "  ", "'x'", "a +", "hash.sha256(a)", "oneof(a, b)", "set(a, b)", "set(", "a b"]
)
def test_expressions_outside_the_subset_are_refused(expr):
    with pytest.raises(LqlError):
        parse_expression(expr)


@pytest.mark.parametrize(
    ("guard", "record", "holds"),
    [
        ("email != ''", {"email": "a"}, True),
        ("email != ''", {"email": ""}, False),
        ("plan = 'pro'", {"plan": "pro"}, True),
        ('plan == "pro"', {"plan": "team"}, False),
        ("score >= 0.5", {"score": 0.75}, True),
        ("score > 1", {"score": "high"}, False),
        ("paid = true", {"paid": True}, True),
        ("exists(email)", {"email": "a"}, True),
        ("EXISTS email", {}, False),
        ("email", {"email": ""}, False),
    ],
)
def test_guards(guard, record, holds):
    assert parse_guard(guard).holds(record) is holds


@pytest.mark.parametrize(
    ("value", "kind", "converted"),
    [
        (42, "string", "42"),
        (True, "string", "true"),
        ("0.5", "number", 0.5),
        ("n/a", "number", None),
        (3.0, "int", 3),
        (3.5, "int", None),
        ("true", "bool", True),
        ("2024-01-01", "date", "2024-01-01T00:00:00.000000Z"),
        (["a", 1], "[]string", ["a", "1"]),
        ("solo", "[]string", ["solo"]),
        ({"m": "0.5", "x": "?"}, "map[string]number", {"m": 0.5}),
        ({"m": {"deep": 1}}, "map[string]value", {"m": {"deep": 1}}),
        ("not a map", "map[string]number", None),
        ({"a": 1}, "string", None),
    ],
)
def test_values_are_converted_to_the_fields_type(value, kind, converted):
    assert convert(value, kind) == converted


def test_a_version_maps_each_stream_by_its_own_mappings_only():
    version = Version(
        1,
        "t",
        "d",
        "",
        0,
        {"email": FieldDef("email", "string", identifier=True), "plan": FieldDef("plan", "string")},
        {
            "1": MappingDef("1", "email", "signups", "email(mail)"),
            "2": MappingDef("2", "plan", "signups", "plan"),
            "3": MappingDef("3", "plan", "orders", "tier"),
            "4": MappingDef("4", "ghost", "signups", "x"),  # its field is not in the version
        },
    )
    mapper = ProfileMapper(version)
    record = {"mail": "A@b.co", "plan": "pro", "tier": "gold", "x": 1}
    assert mapper.user_values("signups", record) == {"email": "a@b.co", "plan": "pro"}
    assert mapper.user_values("orders", record) == {"plan": "gold"}
    assert mapper.user_values("clicks", record) == {}
    assert list(mapper.identity_values("signups", record)) == ["a@b.co"]
    assert mapper.profile_schema.identity_fields == ("email",)
    assert mapper.profile_schema.email_fields == ("email",)
    assert mapper.reads("signups") == {"mail", "plan"}


@pytest.mark.e2e  # runs a process
def test_the_cli_starts_an_account_from_a_preset_with_schema_patches(tmp_path):
    ready = tmp_path / "ready.json"
    argv = [sys.executable, "-m", "target_lytics.sandbox", "--port", "0", "--quiet"]
    argv += ["--ready-file", str(ready), "--preset", "empty", "--schema-patches"]
    argv += ["--account", "acct-new", "--token", "tok-new", "--account-name", "New"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = json.loads(ready.read_text())["url"]
        headers = {"Authorization": "tok-new"}
        [account] = requests.get(f"{url}/api/account", headers=headers, timeout=5).json()["data"]
        assert (account["id"], account["name"]) == ("acct-new", "New")
        fields = requests.get(f"{url}/v2/schema/user/field", headers=headers, timeout=5)
        assert fields.json()["data"] == []
        patches = requests.get(f"{url}/v2/schema/patch/user", headers=headers, timeout=5)
        assert (patches.status_code, patches.json()["data"]) == (200, [])
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=15)
    assert "account: acct-new (empty, 0 published schema versions; schema patches enabled)" in out


@pytest.mark.parametrize("how", ["reset", "503"])
def test_a_lost_answer_fault_does_the_write_and_loses_its_answer(empty, how):
    faults = {"lose_answer_next": 1, "lose_answer_with": how, "fail_paths": ["/v2/schema"]}
    requests.post(f"{empty.url}/_sandbox/faults", json=faults, timeout=5).raise_for_status()
    if how == "reset":
        with pytest.raises(requests.ConnectionError):
            call(empty, "POST", "/v2/schema/user/field", field("plan"))
    else:
        lost = call(empty, "POST", "/v2/schema/user/field", field("plan"))
        assert lost.status_code == 503
        assert "message" in lost.json()  # an edge failure: /api's shape
    assert ok(call(empty, "GET", "/v2/schema/user/field/plan"))["edit_status"] == "new"
    stats = requests.get(f"{empty.url}/_sandbox/stats", timeout=5).json()
    assert stats["schema_writes"] == 1
    assert stats["faults_injected"] == {f"lost answer ({how})": 1}
