"""The mapping setting: every row of the default table (what is sent, what the account must
hold, what a profile gets), overrides, validation, flattening."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground.expected import published_version
from target_lytics.mapping import (
    StreamPlan,
    lytics_value,
    map_record,
    passthrough_record,
    plan_stream,
)
from target_lytics.mapping_setting import (
    DEFAULT_MAPPING,
    MappingConfigError,
    mappings_from_setting,
    merge_mapping,
    parse_mapping,
)
from target_lytics.sandbox.mapper import ProfileMapper
from target_lytics.schema import RequiredSchema, required_schema

#: Lytics' documented Wistia table, row by row: (user field, type, merge op or None for an
#: identifier, the mapping's expression over the stream's source fields).
DOCUMENTED_TABLE = {
    "wistia_country": ("string", "latest", "country"),
    "wistia_state": ("string", "latest", "region"),
    "wistia_city": ("string", "latest", "city"),
    "wistia_org": ("string", "latest", "org"),
    "wistia_percent_viewed": ("number", "latest", "percent_viewed"),
    "wistia_duration_viewed": ("number", "latest", "duration_viewed"),
    "wistia_media_names": ("[]string", "merge", "set(media_name)"),
    "wisita_media_ids": ("[]string", "merge", "set(media_id)"),
    "wisita_media_percent": ("map[string]number", "merge", "map(media_id, percent_viewed)"),
    "wistia_media_duation": ("map[string]number", "merge", "map(media_id, duration_viewed)"),
    "first_name": ("string", "latest", "conversion.first_name"),
    "last_name": ("string", "latest", "conversion.last_name"),
    "email": ("string", None, "email(conversion_data.email)"),
    "wistia_visitor_key": ("string", None, "visitor_key"),
}
#: The source fields the records carry, named as the seed's table names them, plus ended_at.
STREAM_FIELDS = {
    "country",
    "region",
    "city",
    "org",
    "percent_viewed",
    "duration_viewed",
    "media_name",
    "media_id",
    "conversion",
    "conversion_data",
    "visitor_key",
    "ended_at",
}


def activity(**overrides: Any) -> dict[str, Any]:
    """A full wistia_activity record as the tap emits it."""
    record: dict[str, Any] = {
        "session_id": "ek-1",
        "visitor_key": "vk-1",
        "media_id": "m-1",
        "media_name": "Intro video",
        "media_duration": 120.0,
        "percent_viewed": 0.75,
        "duration_viewed": 90.0,
        "started_at": "2025-10-17T17:20:00.000000Z",
        "ended_at": "2025-10-17T17:24:53.000000Z",
        "event_count": 2,
        "country": "US",
        "region": "California",
        "city": "San Francisco",
        "org": "Acme Inc",
        "lat": 37.77,
        "lon": -122.41,
        "ip": "203.0.113.9",
        "embed_url": "https://example.com/watch",
        "user_agent_details": {"browser": "Chrome", "platform": "mac", "mobile": False},
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "conversion_type": "pre-roll",
    }
    record.update(overrides)
    return record


@pytest.fixture(scope="module")
def activity_plan() -> StreamPlan:
    return plan_stream("wistia_activity", mappings_from_setting(None))


# One row per line of the documented table: (user field, source values, what is sent, what the
# account's mapping makes of it on the profile).
TABLE = [
    ("wistia_country", {"country": "US"}, {"country": "US"}, "US"),
    ("wistia_state", {"region": "California"}, {"region": "California"}, "California"),
    ("wistia_city", {"city": "San Francisco"}, {"city": "San Francisco"}, "San Francisco"),
    ("wistia_org", {"org": "Acme Inc"}, {"org": "Acme Inc"}, "Acme Inc"),
    ("wistia_percent_viewed", {"percent_viewed": 0.75}, {"percent_viewed": 0.75}, 0.75),
    ("wistia_duration_viewed", {"duration_viewed": 90.0}, {"duration_viewed": 90.0}, 90.0),
    ("wistia_media_names", {"media_name": "Intro"}, {"media_name": "Intro"}, ["Intro"]),
    ("wisita_media_ids", {"media_id": "m-1"}, {"media_id": "m-1"}, ["m-1"]),
    (
        "wisita_media_percent",
        {"media_id": "m-1", "percent_viewed": 0.75},
        {"media_id": "m-1", "percent_viewed": 0.75},
        {"m-1": 0.75},
    ),
    (
        "wistia_media_duation",
        {"media_id": "m-1", "duration_viewed": 90.0},
        {"media_id": "m-1", "duration_viewed": 90.0},
        {"m-1": 90.0},
    ),
    ("first_name", {"first_name": "Ann"}, {"conversion": {"first_name": "Ann"}}, "Ann"),
    ("last_name", {"last_name": "Lee"}, {"conversion": {"last_name": "Lee"}}, "Lee"),
    (
        "email",
        {"email": "Ann@Example.com"},
        {"conversion_data": {"email": "Ann@Example.com"}},
        "ann@example.com",
    ),
    ("wistia_visitor_key", {"visitor_key": "vk-1"}, {"visitor_key": "vk-1"}, "vk-1"),
]


@pytest.fixture(scope="module")
def account_mapper() -> ProfileMapper:
    """The default mapping's schema, published as Lytics' sandbox evaluates it."""
    return ProfileMapper(published_version(required_schema(mappings_from_setting(None))))


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
def test_each_default_row_sends_its_source_field_and_fills_its_user_field(
    activity_plan, account_mapper, row
):
    field, source, sent, on_profile = row
    out = activity_plan.to_lytics(source)
    assert out == sent
    assert account_mapper.user_values("wistia_activity", out)[field] == on_profile


@pytest.mark.parametrize("row", TABLE, ids=[row[0] for row in TABLE])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_each_default_row_omits_blank_sources(activity_plan, row, blank):
    blanked = dict.fromkeys(row[1], blank)
    assert activity_plan.to_lytics(blanked) == {}


def test_the_compiled_schema_is_the_documented_table():
    required = required_schema({"wistia_activity": mappings_from_setting(None)["wistia_activity"]})
    compiled = {
        spec.name: (spec.definition.type, spec.definition.merge_op) for spec in required.fields
    }
    assert compiled == {name: row[:2] for name, row in DOCUMENTED_TABLE.items()}
    identifiers = {spec.name for spec in required.fields if spec.definition.identifier}
    assert identifiers == {"email", "wistia_visitor_key"}
    expressions = {(m.field, m.stream): m.expr for m in required.mappings}
    assert expressions == {
        (name, "wistia_activity"): row[2] for name, row in DOCUMENTED_TABLE.items()
    }
    assert {row[0] for row in TABLE} == set(DOCUMENTED_TABLE)


def test_full_record_carries_exactly_the_source_fields(activity_plan, account_mapper):
    out = activity_plan.to_lytics(activity())
    assert set(out) == STREAM_FIELDS
    assert out["conversion"] == {"first_name": "Ann", "last_name": "Lee"}
    assert out["conversion_data"] == {"email": "ann@example.com"}
    # Fields outside the table never reach Lytics.
    assert not {"ip", "lat", "session_id", "user_agent_details", "conversion_type"} & set(out)
    profile_values = account_mapper.user_values("wistia_activity", out)
    assert set(profile_values) == set(DOCUMENTED_TABLE)
    assert profile_values["wisita_media_percent"] == {"m-1": 0.75}


def test_default_plan_targets_wistia_activity_ordered_by_ended_at(activity_plan):
    assert activity_plan.lytics_stream == "wistia_activity"
    assert activity_plan.timestamp_field == "ended_at"
    assert activity_plan.to_lytics(activity())["ended_at"] == "2025-10-17T17:24:53.000000Z"
    assert activity_plan.identity_paths == (
        ("email", ("conversion_data", "email")),
        ("wistia_visitor_key", ("visitor_key",)),
    )


def test_anonymous_session_has_no_identity_fields_but_keeps_the_visitor_key(activity_plan):
    out = activity_plan.to_lytics(activity(email=None, first_name="", last_name=None))
    assert "conversion_data" not in out
    assert "conversion" not in out
    assert out["visitor_key"] == "vk-1"


def test_zero_is_a_value_not_a_blank(activity_plan, account_mapper):
    out = activity_plan.to_lytics(activity(percent_viewed=0, duration_viewed=0.0))
    assert out["percent_viewed"] == 0
    values = account_mapper.user_values("wistia_activity", out)
    assert values["wisita_media_percent"] == {"m-1": 0}
    assert values["wistia_media_duation"] == {"m-1": 0.0}


def test_unknown_duration_leaves_out_the_duration_only(activity_plan, account_mapper):
    out = activity_plan.to_lytics(activity(duration_viewed=None))
    assert "duration_viewed" not in out
    values = account_mapper.user_values("wistia_activity", out)
    assert "wistia_duration_viewed" not in values
    assert "wistia_media_duation" not in values
    assert values["wisita_media_percent"] == {"m-1": 0.75}


def test_maps_need_a_media_id(activity_plan, account_mapper):
    out = activity_plan.to_lytics(activity(media_id=""))
    values = account_mapper.user_values("wistia_activity", out)
    assert not {"wisita_media_ids", "wisita_media_percent", "wistia_media_duation"} & set(values)
    assert values["wistia_percent_viewed"] == 0.75


def test_numeric_media_id_becomes_a_string_map_key(activity_plan, account_mapper):
    out = activity_plan.to_lytics({"media_id": 42, "percent_viewed": 0.5})
    assert out == {"media_id": 42, "percent_viewed": 0.5}
    values = account_mapper.user_values("wistia_activity", out)
    assert values["wisita_media_percent"] == {"42": 0.5}
    assert values["wisita_media_ids"] == ["42"]


def test_nan_and_infinity_are_never_sent(activity_plan):
    out = activity_plan.to_lytics(activity(percent_viewed=math.nan, duration_viewed=math.inf))
    assert "percent_viewed" not in out
    assert "duration_viewed" not in out


def test_raw_wistia_event_reads_conversion_data(activity_plan):
    raw_event = {
        "visitor_key": "vk-2",
        "media_id": "m-2",
        "conversion_data": {"email": "bo@example.com", "first_name": "Bo", "last_name": "Ng"},
    }
    out = activity_plan.to_lytics(raw_event)
    assert out["conversion_data"] == {"email": "bo@example.com"}
    assert out["conversion"] == {"first_name": "Bo", "last_name": "Ng"}


def test_resolved_email_wins_over_conversion_data(activity_plan):
    record = activity(conversion_data={"email": "other@example.com"}, email="ann@example.com")
    assert activity_plan.to_lytics(record)["conversion_data"] == {"email": "ann@example.com"}
    fallback = activity(conversion_data={"email": "other@example.com"}, email=" ")
    assert activity_plan.to_lytics(fallback)["conversion_data"] == {"email": "other@example.com"}


def test_conversion_data_that_is_not_an_object_is_ignored(activity_plan):
    out = activity_plan.to_lytics({"email": None, "conversion_data": "n/a", "visitor_key": "v"})
    assert out == {"visitor_key": "v"}


def test_mapping_does_not_mutate_its_input(activity_plan):
    record = activity(user_agent_details={"list": [{"a": 1}]})
    before = copy.deepcopy(record)
    activity_plan.to_lytics(record)
    assert record == before


# --- overrides ---------------------------------------------------------------------------------


def test_override_renames_a_field_and_drops_the_default():
    override = {
        "wistia_activity": {
            "fields": {
                "wisita_media_percent": None,
                "wistia_media_percent": {
                    "from": "percent_viewed",
                    "as": "map",
                    "key": "media_id",
                    "type": "map[string]number",
                },
            }
        }
    }
    required = required_schema(mappings_from_setting(override))
    fields = {spec.name: spec.definition for spec in required.fields}
    assert "wisita_media_percent" not in fields
    assert fields["wistia_media_percent"].type == "map[string]number"
    assert fields["wistia_media_percent"].merge_op == "merge"
    expressions = {m.field: m.expr for m in required.mappings}
    assert expressions["wistia_media_percent"] == "map(media_id, percent_viewed)"
    assert expressions["wistia_country"] == "country"  # the rest of the default table still applies


def test_override_of_a_default_row_keeps_what_it_does_not_say():
    override = {"wistia_activity": {"fields": {"wistia_percent_viewed": "best_percent"}}}
    mappings = mappings_from_setting(override)
    rule = mappings["wistia_activity"].fields["wistia_percent_viewed"]
    assert rule.definition.type == "number"  # kept from the default row
    assert rule.definition.description == "Wistia Last Viewed Percent"
    assert rule.expression == "best_percent"
    plan = plan_stream("wistia_activity", mappings)
    assert plan.to_lytics({"best_percent": 0.4, "percent_viewed": 0.9}) == {
        "best_percent": 0.4,
        "percent_viewed": 0.9,  # still carried for the maps
    }


def test_override_renaming_a_source_keeps_the_stream_field_the_import_reads():
    override = {"wistia_activity": {"fields": {"first_name": {"from": "given_name"}}}}
    plan = plan_stream("wistia_activity", mappings_from_setting(override))
    assert plan.to_lytics({"given_name": "Ann"}) == {"conversion": {"first_name": "Ann"}}


def test_a_users_own_field_gets_a_field_and_a_mapping_the_same_way():
    override = {"wistia_activity": {"fields": {"wistia_browser": "user_agent_details.browser"}}}
    mappings = mappings_from_setting(override)
    plan = plan_stream("wistia_activity", mappings)
    out = plan.to_lytics(activity())
    assert out["user_agent_details"] == {"browser": "Chrome"}
    required = required_schema(mappings)
    [spec] = [spec for spec in required.fields if spec.name == "wistia_browser"]
    assert (spec.definition.type, spec.definition.merge_op) == ("string", "latest")
    [mapping] = [m for m in required.mappings if m.field == "wistia_browser"]
    assert mapping.expr == "user_agent_details.browser"


def test_override_changes_stream_and_timestamp_field():
    override = {"wistia_activity": {"stream": "video_views", "timestamp_field": "started_at"}}
    mappings = mappings_from_setting(override)
    plan = plan_stream("wistia_activity", mappings)
    assert plan.lytics_stream == "video_views"
    assert plan.timestamp_field == "started_at"
    # The timestamp field Lytics is told about is always in the record.
    assert plan.to_lytics(activity())["started_at"] == "2025-10-17T17:20:00.000000Z"
    assert {m.stream for m in required_schema(mappings).mappings} == {
        "video_views",
        "wistia_visitors",
    }


def test_null_stream_override_sends_the_stream_unmapped():
    mappings = mappings_from_setting({"wistia_activity": None})
    plan = plan_stream("wistia_activity", mappings)
    assert plan.mapping is None
    assert plan.timestamp_field is None
    out = plan.to_lytics(activity())
    assert out["session_id"] == "ek-1"
    assert out["user_agent_details"] == {"browser": "Chrome", "platform": "mac", "mobile": False}
    required = required_schema(mappings)
    assert {m.stream for m in required.mappings} == {"wistia_visitors"}
    # The visitors' rows keep the shared fields' definitions from the default table.
    identifiers = {spec.name for spec in required.fields if spec.definition.identifier}
    assert identifiers == {"email", "wistia_visitor_key"}
    both_null = mappings_from_setting({"wistia_activity": None, "wistia_visitors": None})
    assert required_schema(both_null) == RequiredSchema((), ())


def test_mapping_for_another_stream_shares_the_user_fields_definition():
    override = {"signups": {"fields": {"email": {"from": "mail", "stream_field": "email"}}}}
    mappings = mappings_from_setting(override)
    assert set(mappings) == {"wistia_activity", "wistia_visitors", "signups"}
    signups = mappings["signups"].fields["email"]
    assert signups.definition.identifier  # from the default table's row for email
    assert signups.expression == "email"
    plan = plan_stream("signups", mappings)
    assert plan.to_lytics({"mail": "a@b.co", "x": 1}) == {"email": "a@b.co"}
    required = required_schema(mappings)
    assert [spec.name for spec in required.fields].count("email") == 1
    assert {(m.field, m.stream) for m in required.mappings if m.field == "email"} == {
        ("email", "wistia_activity"),
        ("email", "wistia_visitors"),
        ("email", "signups"),
    }


def test_adding_a_stream_to_the_table_is_data_only():
    visitors = {
        "wistia_visitors": {
            "stream": "wistia_visitors",
            "fields": {
                "wistia_visitor_key": "visitor_key",
                "wistia_last_active": {"from": "last_active_at", "type": "date"},
            },
        }
    }
    mappings = mappings_from_setting(visitors)
    required = required_schema(mappings)
    assert ("wistia_visitor_key", "wistia_visitors") in {
        (m.field, m.stream) for m in required.mappings
    }
    assert {"wistia_last_active"} <= {spec.name for spec in required.fields}
    plan = plan_stream("wistia_visitors", mappings)
    assert plan.to_lytics({"visitor_key": "v", "last_active_at": "2026-01-01"}) == {
        "visitor_key": "v",
        "last_active_at": "2026-01-01",
    }


def test_merge_does_not_touch_the_defaults():
    before = copy.deepcopy(DEFAULT_MAPPING)
    merge_mapping(DEFAULT_MAPPING, {"wistia_activity": {"fields": {"email": None}}})
    assert before == DEFAULT_MAPPING


def test_list_rule_keeps_a_list_source_and_drops_its_blanks():
    mappings = parse_mapping({"s": {"fields": {"tags": {"from": "tags", "as": "list"}}}})
    plan = plan_stream("s", mappings)
    assert plan.to_lytics({"tags": ["a", "", None, "b"]}) == {"tags": ["a", "b"]}
    assert plan.to_lytics({"tags": [None, " "]}) == {}
    assert required_schema(mappings).mappings[0].expr == "set(tags)"


def test_value_rule_on_an_object_fixes_arrays_of_objects():
    plan = plan_stream("s", parse_mapping({"s": {"fields": {"ua": "ua"}}}))
    assert plan.to_lytics({"ua": {"hints": [{"k": 1}], "empty": ""}}) == {
        "ua": {"hints": {"0": {"k": 1}}}
    }


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("not an object", "mapping: must be an object"),
        ({"wistia_activity": []}, "mapping.wistia_activity: must be an object"),
        ({"wistia_activity": {"feilds": {}}}, "mapping.wistia_activity: unknown key(s) ['feilds']"),
        ({"wistia_activity": {"fields": []}}, "mapping.wistia_activity.fields: must be an object"),
        (
            {"wistia_activity": {"stream": ""}},
            "mapping.wistia_activity.stream: must be a non-empty",
        ),
        (
            {"wistia_activity": {"timestamp_field": 3}},
            "mapping.wistia_activity.timestamp_field: must be a non-empty string",
        ),
        ({"s": {"fields": {"x": 5}}}, "mapping.s.fields.x: use a source path or an object"),
        ({"s": {"fields": {"x": {"as": "list"}}}}, "mapping.s.fields.x.from: give a source path"),
        ({"s": {"fields": {"x": {"from": "a..b"}}}}, "mapping.s.fields.x.from: 'a..b' is not"),
        ({"s": {"fields": {"x": {"from": "a", "as": "set"}}}}, "mapping.s.fields.x.as: 'set'"),
        ({"s": {"fields": {"x": {"from": "a", "as": "map"}}}}, "mapping.s.fields.x.key: give"),
        ({"s": {"fields": {"x": {"from": "a", "key": "k"}}}}, "mapping.s.fields.x.key: only"),
        ({"s": {"fields": {"x": {"from": "a", "to": "b"}}}}, "mapping.s.fields.x: unknown key(s)"),
        ({"s": {"fields": {" ": "a"}}}, "mapping.s.fields: a Lytics field name cannot be empty"),
        (
            {"s": {"fields": {"x": {"from": "a", "type": "text"}}}},
            "mapping.s.fields.x.type: 'text'",
        ),
        (
            {"s": {"fields": {"x": {"from": "a", "as": "list", "type": "string"}}}},
            'mapping.s.fields.x.type: a row "as": "list" fills',
        ),
        (
            {"s": {"fields": {"x": {"from": "a", "merge": "sum"}}}},
            "mapping.s.fields.x.merge: 'sum' does not merge a string field",
        ),
        (
            {"s": {"fields": {"x": {"from": "a", "identifier": True, "merge": "latest"}}}},
            "mapping.s.fields.x.merge: an identifier field takes no merge op",
        ),
        ({"s": {"fields": {"x": {"from": "a", "pii": "yes"}}}}, "mapping.s.fields.x.pii: must be"),
        (
            {"s": {"fields": {"x": {"from": "first name"}}}},
            "mapping.s.fields.x.from: 'first name' cannot be a Lytics stream field",
        ),
        (
            {"s": {"fields": {"x": "a", "y": {"from": "b", "stream_field": "a"}}}},
            "mapping.s.fields.y: stream field 'a' is already fed by ['a']",
        ),
        (
            {"s": {"fields": {"x": "a", "y": "a.b"}}},
            "mapping.s.stream field 'a' would hold 'a.b' inside it",
        ),
        (
            {"s": {"fields": {"email": {"from": "e", "type": "int"}}}},
            "mapping.s.fields.email.type: 'int' differs from 'string'",
        ),
        (
            {"s": {"fields": {"wistia_city": {"from": "c", "as": "list"}}}},
            'mapping.s.fields.wistia_city.type: a row "as": "list" fills',
        ),
        (
            {"a": {"fields": {"z": "x"}}, "b": {"fields": {"z": {"from": "y", "as": "list"}}}},
            "mapping.b.fields.z: defines the user field as []string",
        ),
    ],
)
def test_invalid_mapping_names_the_place_to_fix(override, expected):
    with pytest.raises(MappingConfigError) as caught:
        mappings_from_setting(override)
    assert any(error.startswith(expected) for error in caught.value.errors), caught.value.errors


def test_every_problem_is_reported_at_once():
    override = {"a": {"fields": {"x": 1, "y": {"from": ""}}}, "b": {"stream": 2}}
    with pytest.raises(MappingConfigError) as caught:
        mappings_from_setting(override)
    assert len(caught.value.errors) == 3


# --- plans ------------------------------------------------------------------------------------


def test_unmapped_stream_goes_to_the_stream_of_the_same_name():
    plan = plan_stream("orders", mappings_from_setting(None))
    assert (plan.lytics_stream, plan.timestamp_field, plan.mapping) == ("orders", None, None)


def test_stream_setting_wins_over_the_mapping():
    plan = plan_stream("wistia_activity", mappings_from_setting(None), stream_setting="videos")
    assert plan.lytics_stream == "videos"


def test_timestamp_setting_wins_and_is_copied_into_mapped_records():
    plan = plan_stream(
        "wistia_activity", mappings_from_setting(None), timestamp_setting="started_at"
    )
    assert plan.timestamp_field == "started_at"
    out = plan.to_lytics(activity())
    assert out["started_at"] == "2025-10-17T17:20:00.000000Z"
    assert "ended_at" not in out  # no row carries it: it was only the default's timestamp


def test_timestamp_setting_applies_to_unmapped_streams():
    plan = plan_stream("orders", mappings_from_setting(None), timestamp_setting="updated_at")
    assert plan.timestamp_field == "updated_at"


# --- unmapped streams -------------------------------------------------------------------------


def test_passthrough_turns_arrays_of_objects_into_objects_by_position():
    record = {
        "id": 1,
        "items": [{"sku": "a", "qty": 2}, {"sku": "b", "note": None}],
        "tags": ["x", "y"],
        "grid": [[1, 2], [3]],
        "deep": {"lines": [{"n": [{"m": 1}]}]},
    }
    assert passthrough_record(record) == {
        "id": 1,
        "items": {"0": {"sku": "a", "qty": 2}, "1": {"sku": "b"}},
        "tags": ["x", "y"],
        "grid": {"0": [1, 2], "1": [3]},
        "deep": {"lines": {"0": {"n": {"0": {"m": 1}}}}},
    }


def test_passthrough_drops_blanks_at_every_depth():
    record = {"a": None, "b": "", "c": " ", "d": [], "e": {}, "f": {"g": None}, "h": [None], "i": 0}
    assert passthrough_record(record) == {"i": 0}


def test_passthrough_keeps_positions_when_dropping_blank_objects():
    assert lytics_value([{"a": None}, {"a": 1}]) == {"1": {"a": 1}}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)


def _assert_lytics_shape(value: Any) -> None:
    assert value is not None
    if isinstance(value, str):
        assert value.strip()
    if isinstance(value, float):
        assert math.isfinite(value)
    if isinstance(value, list):
        assert value
        for item in value:
            assert not isinstance(item, (dict, list))
            _assert_lytics_shape(item)
    if isinstance(value, dict):
        assert value
        for item in value.values():
            _assert_lytics_shape(item)


@settings(max_examples=60)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_passthrough_output_is_always_accepted_by_lytics(record):
    out = passthrough_record(record)
    assert isinstance(out, dict)
    for value in out.values():
        _assert_lytics_shape(value)
    json.dumps(out, allow_nan=False)


@settings(max_examples=60)
@given(st.dictionaries(st.sampled_from(sorted(activity())), json_values, max_size=12))
def test_default_mapping_output_is_always_accepted_by_lytics(record):
    plan = plan_stream("wistia_activity", mappings_from_setting(None))
    out = map_record(plan.mapping, record)  # type: ignore[arg-type]
    assert set(out) <= STREAM_FIELDS
    for value in out.values():
        _assert_lytics_shape(value)
    json.dumps(out, allow_nan=False)
