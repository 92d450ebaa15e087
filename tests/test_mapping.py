"""The Lytics field mapping: every row of the default table, overrides, validation, flattening."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from target_lytics.mapping import (
    DEFAULT_MAPPING,
    MappingConfigError,
    StreamPlan,
    lytics_value,
    map_record,
    mappings_from_setting,
    merge_mapping,
    parse_mapping,
    passthrough_record,
    plan_stream,
)

DOCUMENTED_FIELDS = {
    "wistia_country",
    "wistia_state",
    "wistia_city",
    "wistia_org",
    "wistia_percent_viewed",
    "wistia_duration_viewed",
    "wistia_media_names",
    "wisita_media_ids",
    "wisita_media_percent",
    "wistia_media_duation",
    "first_name",
    "last_name",
    "email",
    "wistia_visitor_key",
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


# One row per line of the documented table: (Lytics field, source fields, expected value).
TABLE = [
    ("wistia_country", {"country": "US"}, "US"),
    ("wistia_state", {"region": "California"}, "California"),
    ("wistia_city", {"city": "San Francisco"}, "San Francisco"),
    ("wistia_org", {"org": "Acme Inc"}, "Acme Inc"),
    ("wistia_percent_viewed", {"percent_viewed": 0.75}, 0.75),
    ("wistia_duration_viewed", {"duration_viewed": 90.0}, 90.0),
    ("wistia_media_names", {"media_name": "Intro video"}, ["Intro video"]),
    ("wisita_media_ids", {"media_id": "m-1"}, ["m-1"]),
    ("wisita_media_percent", {"media_id": "m-1", "percent_viewed": 0.75}, {"m-1": 0.75}),
    ("wistia_media_duation", {"media_id": "m-1", "duration_viewed": 90.0}, {"m-1": 90.0}),
    ("first_name", {"first_name": "Ann"}, "Ann"),
    ("last_name", {"last_name": "Lee"}, "Lee"),
    ("email", {"email": "ann@example.com"}, "ann@example.com"),
    ("wistia_visitor_key", {"visitor_key": "vk-1"}, "vk-1"),
    ("ended_at", {"ended_at": "2025-10-17T17:24:53.000000Z"}, "2025-10-17T17:24:53.000000Z"),
]


@pytest.mark.parametrize(("field", "source", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_each_default_row_maps_its_source(activity_plan, field, source, expected):
    out = activity_plan.to_lytics(source)
    assert out[field] == expected
    if len(source) == 1:  # a map row's sources also feed their own rows
        assert out == {field: expected}


@pytest.mark.parametrize(("field", "source", "expected"), TABLE, ids=[row[0] for row in TABLE])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_each_default_row_omits_blank_sources(activity_plan, field, source, expected, blank):
    blanked = dict.fromkeys(source, blank)
    assert activity_plan.to_lytics(blanked) == {}


def test_table_covers_every_documented_field():
    assert {row[0] for row in TABLE} == DOCUMENTED_FIELDS
    assert set(DEFAULT_MAPPING["wistia_activity"]["fields"]) == DOCUMENTED_FIELDS


def test_full_record_gives_exactly_the_documented_fields(activity_plan):
    out = activity_plan.to_lytics(activity())
    assert set(out) == DOCUMENTED_FIELDS
    assert out["wisita_media_percent"] == {"m-1": 0.75}
    assert out["wistia_media_duation"] == {"m-1": 90.0}
    # Fields outside the table never reach Lytics.
    assert not {"ip", "lat", "session_id", "user_agent_details", "conversion_type"} & set(out)


def test_default_plan_targets_wistia_activity_ordered_by_ended_at(activity_plan):
    assert activity_plan.lytics_stream == "wistia_activity"
    assert activity_plan.timestamp_field == "ended_at"


def test_anonymous_session_has_no_identity_fields_but_keeps_the_visitor_key(activity_plan):
    out = activity_plan.to_lytics(activity(email=None, first_name="", last_name=None))
    assert "email" not in out
    assert "first_name" not in out
    assert "last_name" not in out
    assert out["wistia_visitor_key"] == "vk-1"


def test_zero_is_a_value_not_a_blank(activity_plan):
    out = activity_plan.to_lytics(activity(percent_viewed=0, duration_viewed=0.0))
    assert out["wistia_percent_viewed"] == 0
    assert out["wisita_media_percent"] == {"m-1": 0}
    assert out["wistia_media_duation"] == {"m-1": 0.0}


def test_unknown_duration_leaves_out_both_duration_fields_only(activity_plan):
    out = activity_plan.to_lytics(activity(duration_viewed=None))
    assert "wistia_duration_viewed" not in out
    assert "wistia_media_duation" not in out
    assert out["wisita_media_percent"] == {"m-1": 0.75}


def test_maps_need_a_media_id(activity_plan):
    out = activity_plan.to_lytics(activity(media_id=""))
    assert "wisita_media_ids" not in out
    assert "wisita_media_percent" not in out
    assert "wistia_media_duation" not in out
    assert out["wistia_percent_viewed"] == 0.75


def test_numeric_media_id_becomes_a_string_map_key(activity_plan):
    out = activity_plan.to_lytics({"media_id": 42, "percent_viewed": 0.5})
    assert out["wisita_media_percent"] == {"42": 0.5}
    assert out["wisita_media_ids"] == [42]


def test_nan_and_infinity_are_never_sent(activity_plan):
    out = activity_plan.to_lytics(activity(percent_viewed=math.nan, duration_viewed=math.inf))
    for field in (
        "wistia_percent_viewed",
        "wisita_media_percent",
        "wistia_duration_viewed",
        "wistia_media_duation",
    ):
        assert field not in out


def test_raw_wistia_event_reads_conversion_data(activity_plan):
    raw_event = {
        "visitor_key": "vk-2",
        "media_id": "m-2",
        "conversion_data": {"email": "bo@example.com", "first_name": "Bo", "last_name": "Ng"},
    }
    out = activity_plan.to_lytics(raw_event)
    assert out["email"] == "bo@example.com"
    assert out["first_name"] == "Bo"
    assert out["last_name"] == "Ng"


def test_resolved_email_wins_over_conversion_data(activity_plan):
    record = activity(conversion_data={"email": "other@example.com"}, email="ann@example.com")
    assert activity_plan.to_lytics(record)["email"] == "ann@example.com"
    fallback = activity(conversion_data={"email": "other@example.com"}, email=" ")
    assert activity_plan.to_lytics(fallback)["email"] == "other@example.com"


def test_conversion_data_that_is_not_an_object_is_ignored(activity_plan):
    out = activity_plan.to_lytics({"email": None, "conversion_data": "n/a", "visitor_key": "v"})
    assert out == {"wistia_visitor_key": "v"}


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
                "wistia_media_percent": {"from": "percent_viewed", "as": "map", "key": "media_id"},
            }
        }
    }
    plan = plan_stream("wistia_activity", mappings_from_setting(override))
    out = plan.to_lytics(activity())
    assert out["wistia_media_percent"] == {"m-1": 0.75}
    assert "wisita_media_percent" not in out
    assert out["wistia_country"] == "US"  # the rest of the default table still applies


def test_override_adds_a_field_with_a_dotted_path_and_keeps_defaults():
    override = {"wistia_activity": {"fields": {"wistia_browser": "user_agent_details.browser"}}}
    plan = plan_stream("wistia_activity", mappings_from_setting(override))
    out = plan.to_lytics(activity())
    assert out["wistia_browser"] == "Chrome"
    assert set(out) == DOCUMENTED_FIELDS | {"wistia_browser"}


def test_override_changes_stream_and_timestamp_field():
    override = {"wistia_activity": {"stream": "video_views", "timestamp_field": "started_at"}}
    plan = plan_stream("wistia_activity", mappings_from_setting(override))
    assert plan.lytics_stream == "video_views"
    assert plan.timestamp_field == "started_at"
    # The timestamp field Lytics is told about is always in the record.
    assert plan.to_lytics(activity())["started_at"] == "2025-10-17T17:20:00.000000Z"


def test_null_stream_override_sends_the_stream_unmapped():
    plan = plan_stream("wistia_activity", mappings_from_setting({"wistia_activity": None}))
    assert plan.mapping is None
    assert plan.timestamp_field is None
    out = plan.to_lytics(activity())
    assert out["session_id"] == "ek-1"
    assert out["user_agent_details"] == {"browser": "Chrome", "platform": "mac", "mobile": False}


def test_mapping_for_another_stream_is_added_next_to_the_default():
    override = {
        "wistia_events": {"stream": "wistia_events", "fields": {"email": "conversion_data.email"}}
    }
    mappings = mappings_from_setting(override)
    assert set(mappings) == {"wistia_activity", "wistia_events"}
    plan = plan_stream("wistia_events", mappings)
    assert plan.to_lytics({"conversion_data": {"email": "a@b.c"}, "x": 1}) == {"email": "a@b.c"}


def test_merge_does_not_touch_the_defaults():
    before = copy.deepcopy(DEFAULT_MAPPING)
    merge_mapping(DEFAULT_MAPPING, {"wistia_activity": {"fields": {"email": None}}})
    assert before == DEFAULT_MAPPING


def test_list_rule_keeps_a_list_source_and_drops_its_blanks():
    mappings = parse_mapping({"s": {"fields": {"tags": {"from": "tags", "as": "list"}}}})
    plan = plan_stream("s", mappings)
    assert plan.to_lytics({"tags": ["a", "", None, "b"]}) == {"tags": ["a", "b"]}
    assert plan.to_lytics({"tags": [None, " "]}) == {}


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
    assert out["ended_at"] == "2025-10-17T17:24:53.000000Z"


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
    assert set(out) <= DOCUMENTED_FIELDS
    for value in out.values():
        _assert_lytics_shape(value)
    json.dumps(out, allow_nan=False)
