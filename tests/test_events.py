"""One Wistia event normalised: timestamps, percent_viewed, identity, and the problem counts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_wistia.events import (
    BAD_PERCENT_VIEWED,
    BAD_RECEIVED_AT,
    MISSING_EVENT_KEY,
    MISSING_MEDIA_ID,
    MISSING_VISITOR_KEY,
    PERCENT_OUT_OF_RANGE,
    UNKNOWN_MEDIA_DURATION,
    EventProblems,
    ViewEvent,
    Viewing,
    format_timestamp,
    normalize_event,
    parse_timestamp,
    view_event,
)

WHEN = datetime(2025, 10, 17, 17, 24, 53, tzinfo=UTC)
# Hypothesis bounds are naive by design; naive inputs are also what the "naive = UTC" rule is about.
EARLIEST = datetime(1000, 1, 1)  # noqa: DTZ001
NAIVE_WHEN = datetime(2025, 10, 17, 17, 24, 53)  # noqa: DTZ001


def raw_event(**changes: object) -> dict[str, object]:
    """A Wistia stats event as the API serves it."""
    event: dict[str, object] = {
        "event_key": "1760721_0a81a338-6e2b-4c5e-9a1d-3b0e9f2c7d11",
        "received_at": "2025-10-17T17:24:53.000Z",
        "visitor_key": "B6D1F47963577AF26697138FAB75BD1B7086697B",
        "media_id": "993554ba94",
        "media_name": "Product tour",
        "media_url": "https://home.wistia.com/medias/993554ba94",
        "percent_viewed": 0.22457664233576624,
        "embed_url": "https://example.com/tour",
        "ip": "203.0.113.9",
        "org": "Example Org",
        "country": "US",
        "region": "WA",
        "city": "Seattle",
        "lat": 47.6,
        "lon": -122.3,
        "email": None,
        "conversion_type": "",
        "conversion_data": {},
        "iframe_heatmap_url": "https://example.com/heatmap",
        "thumbnail": {"url": "https://example.com/t.jpg", "width": 200, "height": 120},
        "user_agent_details": {
            "browser": "Chrome",
            "browser_version": "141",
            "platform": "mac",
            "mobile": False,
        },
    }
    event.update(changes)
    return event


def compact(**changes: object) -> ViewEvent | None:
    problems = EventProblems()
    record = normalize_event(raw_event(**changes), problems)
    assert record is not None
    return view_event(record, problems)


# --- format_timestamp ---------------------------------------------------------------------


def test_format_timestamp_is_fixed_width_utc_with_z() -> None:
    assert format_timestamp(WHEN) == "2025-10-17T17:24:53.000000Z"
    assert format_timestamp(WHEN.replace(microsecond=7)) == "2025-10-17T17:24:53.000007Z"
    assert format_timestamp(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02T03:04:05.000000Z"


def test_format_timestamp_converts_offsets_and_takes_naive_as_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2025, 10, 17, 19, 24, 53, tzinfo=paris)) == (
        "2025-10-17T17:24:53.000000Z"
    )
    assert format_timestamp(NAIVE_WHEN) == "2025-10-17T17:24:53.000000Z"


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(timezones=st.just(UTC), min_value=EARLIEST),
    st.datetimes(timezones=st.just(UTC), min_value=EARLIEST),
)
def test_string_order_is_time_order(one: datetime, two: datetime) -> None:
    assert (format_timestamp(one) < format_timestamp(two)) == (one < two)
    assert parse_timestamp(format_timestamp(one)) == one


# --- parse_timestamp ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2025-10-17T17:24:53.000Z",
        "2025-10-17T17:24:53Z",
        "2025-10-17T17:24:53+00:00",
        "2025-10-17T19:24:53+02:00",
        "2025-10-17T12:24:53-05:00",
        "2025-10-17T17:24:53",
        "2025-10-17 17:24:53",
        "2025-10-17t17:24:53z",
        "  2025-10-17T17:24:53Z\n",
    ],
)
def test_parse_timestamp_reads_wistia_spellings_as_utc(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed == WHEN
    assert parsed is not None
    assert parsed.tzinfo is UTC


def test_parse_timestamp_keeps_microseconds_and_drops_nanoseconds() -> None:
    assert parse_timestamp("2025-10-17T17:24:53.123456789Z") == WHEN.replace(microsecond=123456)
    assert parse_timestamp("2025-10-17T17:24:53.5Z") == WHEN.replace(microsecond=500000)


def test_parse_timestamp_accepts_datetimes() -> None:
    assert parse_timestamp(WHEN) is WHEN
    assert parse_timestamp(NAIVE_WHEN) == WHEN
    eastern = datetime(2025, 10, 17, 12, 24, 53, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_timestamp(eastern) == WHEN


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-10-17T25:00:00Z",
        "0001-01-01T00:00:00+01:00",  # leaves datetime's range once in UTC
        1760721893,
        17.5,
        ["2025-10-17T17:24:53Z"],
        {"at": "2025-10-17T17:24:53Z"},
        "\uff12\uff10\uff12\uff15-10-17T17:24:53Z",  # full-width digits
    ],
)
def test_parse_timestamp_returns_none_for_what_it_cannot_read(value: object) -> None:
    assert parse_timestamp(value) is None


# --- EventProblems ------------------------------------------------------------------------


def test_summary_reads_as_one_line_in_a_stable_order() -> None:
    problems = EventProblems()
    problems[BAD_PERCENT_VIEWED] += 1
    problems[MISSING_VISITOR_KEY] += 3
    problems[UNKNOWN_MEDIA_DURATION] += 2
    assert problems.summary() == (
        "3 events without visitor_key (not sessionized), "
        "1 event with a null or non-numeric percent_viewed (kept as null), "
        "2 events of a media deleted, without a duration or that does not play"
        " (duration_viewed null)"
    )


def test_summary_of_nothing_and_of_an_unknown_problem() -> None:
    assert EventProblems().summary() == "no event problems"
    assert not EventProblems()
    assert EventProblems({"odd_thing": 2}).summary() == "2 events with problem 'odd_thing'"


def test_merge_adds_counts() -> None:
    one = EventProblems({BAD_RECEIVED_AT: 1, MISSING_MEDIA_ID: 2})
    one.merge(EventProblems({MISSING_MEDIA_ID: 3, PERCENT_OUT_OF_RANGE: 1}))
    assert one == {BAD_RECEIVED_AT: 1, MISSING_MEDIA_ID: 5, PERCENT_OUT_OF_RANGE: 1}
    assert one.total() == 7


# --- normalize_event ----------------------------------------------------------------------


def test_normalize_event_copies_the_object_with_canonical_fields() -> None:
    raw = raw_event()
    problems = EventProblems()
    record = normalize_event(raw, problems)
    assert record is not None
    assert record == {**raw, "received_at": "2025-10-17T17:24:53.000000Z"}
    assert raw["received_at"] == "2025-10-17T17:24:53.000Z"  # the input is left alone
    assert record["user_agent_details"] is raw["user_agent_details"]  # a shallow copy
    assert not problems


@pytest.mark.parametrize(
    ("received_at", "canonical"),
    [
        ("2025-10-17T17:24:53Z", "2025-10-17T17:24:53.000000Z"),
        ("2025-10-17T17:24:53.1Z", "2025-10-17T17:24:53.100000Z"),
        ("2025-10-17T17:24:53.123456Z", "2025-10-17T17:24:53.123456Z"),
        ("2025-10-17T17:24:53.1234567Z", "2025-10-17T17:24:53.123456Z"),
        ("2025-10-17T19:24:53.250+02:00", "2025-10-17T17:24:53.250000Z"),
        ("2025-10-17T17:24:53", "2025-10-17T17:24:53.000000Z"),
        ("20251017T172453Z", "2025-10-17T17:24:53.000000Z"),
    ],
)
def test_normalize_event_writes_received_at_canonically(received_at: str, canonical: str) -> None:
    record = normalize_event(raw_event(received_at=received_at), EventProblems())
    assert record is not None
    assert record["received_at"] == canonical


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=EARLIEST),
    st.sampled_from(["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00"]),
    st.integers(0, 6),
)
def test_the_fast_path_agrees_with_format_timestamp(
    moment: datetime, pattern: str, digits: int
) -> None:
    text = moment.strftime(pattern)
    if ".%f" in pattern:  # Wistia sends milliseconds; any 0-6 digits must work
        head, _, fraction = text[:-1].partition(".")
        text = f"{head}.{fraction[:digits]}Z" if digits else f"{head}Z"
    record = normalize_event(raw_event(received_at=text), EventProblems())
    assert record is not None
    assert record["received_at"] == format_timestamp(parse_timestamp(text))  # type: ignore[arg-type]


def test_normalize_event_skips_and_counts_an_unreadable_received_at() -> None:
    problems = EventProblems()
    assert normalize_event(raw_event(received_at="soon"), problems) is None
    assert normalize_event(raw_event(received_at=None), problems) is None
    missing = raw_event()
    del missing["received_at"]
    assert normalize_event(missing, problems) is None
    assert problems == {BAD_RECEIVED_AT: 3}


@pytest.mark.parametrize(
    ("percent", "kept", "problem"),
    [
        (0.5, 0.5, None),
        (0, 0.0, None),
        (1, 1.0, None),
        ("0.25", 0.25, None),
        (None, None, BAD_PERCENT_VIEWED),
        ("abc", None, BAD_PERCENT_VIEWED),
        (True, None, BAD_PERCENT_VIEWED),
        (math.nan, None, BAD_PERCENT_VIEWED),
        (math.inf, None, BAD_PERCENT_VIEWED),
        ({"value": 1}, None, BAD_PERCENT_VIEWED),
        (1.7, 1.7, PERCENT_OUT_OF_RANGE),
        (-0.2, -0.2, PERCENT_OUT_OF_RANGE),
    ],
)
def test_normalize_event_reads_percent_viewed(
    percent: object, kept: float | None, problem: str | None
) -> None:
    problems = EventProblems()
    record = normalize_event(raw_event(percent_viewed=percent), problems)
    assert record is not None
    assert record["percent_viewed"] == kept
    assert kept is None or type(record["percent_viewed"]) is float
    assert problems == ({problem: 1} if problem else {})


def test_normalize_event_counts_a_missing_percent_viewed() -> None:
    raw = raw_event()
    del raw["percent_viewed"]
    problems = EventProblems()
    record = normalize_event(raw, problems)
    assert record is not None
    assert record["percent_viewed"] is None
    assert problems == {BAD_PERCENT_VIEWED: 1}


# --- view_event ---------------------------------------------------------------------------


def test_view_event_keeps_what_sessions_need() -> None:
    event = compact()
    assert event == ViewEvent(
        event_key="1760721_0a81a338-6e2b-4c5e-9a1d-3b0e9f2c7d11",
        visitor_key="B6D1F47963577AF26697138FAB75BD1B7086697B",
        media_id="993554ba94",
        received_at=WHEN,
        percent_viewed=0.22457664233576624,
        viewing=Viewing(
            media_name="Product tour",
            country="US",
            region="WA",
            city="Seattle",
            org="Example Org",
            lat=47.6,
            lon=-122.3,
            ip="203.0.113.9",
            embed_url="https://example.com/tour",
            user_agent_details=(
                ("browser", "Chrome"),
                ("browser_version", "141"),
                ("platform", "mac"),
                ("mobile", False),
            ),
            email=None,
            first_name=None,
            last_name=None,
            conversion_type=None,
        ),
    )


@pytest.mark.parametrize(("percent", "clamped"), [(1.7, 1.0), (-0.2, 0.0), ("abc", None)])
def test_view_event_clamps_percent_viewed(percent: object, clamped: float | None) -> None:
    event = compact(percent_viewed=percent)
    assert event is not None
    assert event.percent_viewed == clamped


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"visitor_key": None}, {MISSING_VISITOR_KEY: 1}),
        ({"visitor_key": "  "}, {MISSING_VISITOR_KEY: 1}),
        ({"media_id": ""}, {MISSING_MEDIA_ID: 1}),
        ({"media_id": ["x"]}, {MISSING_MEDIA_ID: 1}),
        ({"event_key": None}, {MISSING_EVENT_KEY: 1}),
        ({"visitor_key": None, "media_id": None}, {MISSING_VISITOR_KEY: 1, MISSING_MEDIA_ID: 1}),
    ],
)
def test_view_event_counts_events_that_cannot_be_sessionized(
    fields: dict[str, object], problems: dict[str, int]
) -> None:
    counted = EventProblems()
    record = normalize_event(raw_event(**fields), counted)
    assert record is not None  # the events stream still emits it
    assert view_event(record, counted) is None
    assert counted == problems


def test_view_event_counts_an_unreadable_received_at_given_directly() -> None:
    problems = EventProblems()
    assert view_event(raw_event(received_at="never"), problems) is None
    assert problems == {BAD_RECEIVED_AT: 1}


def test_view_event_accepts_integer_ids() -> None:
    event = compact(media_id=993554, visitor_key=17)
    assert event is not None
    assert (event.media_id, event.visitor_key) == ("993554", "17")


def test_email_comes_trimmed_and_lower_cased_from_the_event() -> None:
    event = compact(email="  Ana.Silva@Example.COM ", conversion_data={"email": "other@x.com"})
    assert event is not None
    assert event.viewing.email == "ana.silva@example.com"


@pytest.mark.parametrize("email", [None, "", "   ", 42])
def test_email_falls_back_to_conversion_data(email: object) -> None:
    data = {"email": " Ana@Example.com", "first_name": " Ana ", "last_name": "Silva"}
    event = compact(email=email, conversion_data=data)
    assert event is not None
    assert (event.viewing.email, event.viewing.first_name, event.viewing.last_name) == (
        "ana@example.com",
        "Ana",
        "Silva",
    )


@pytest.mark.parametrize("data", [{}, None, "garbage", {"email": "  ", "first_name": ""}])
def test_missing_identity_is_none(data: object) -> None:
    event = compact(conversion_data=data)
    assert event is not None
    assert (event.viewing.email, event.viewing.first_name, event.viewing.last_name) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("value", "kept"), [("", None), ("  ", None), ("pre-roll", "pre-roll"), (3, 3), (None, None)]
)
def test_conversion_type_blank_is_none(value: object, kept: object) -> None:
    event = compact(conversion_type=value)
    assert event is not None
    assert event.viewing.conversion_type == kept


def test_location_fields_are_kept_as_given_and_coordinates_as_floats() -> None:
    event = compact(city="", region=None, lat=47, lon="west", user_agent_details="Chrome")
    assert event is not None
    assert event.viewing.city == ""
    assert event.viewing.region is None
    assert event.viewing.lat == 47.0
    assert isinstance(event.viewing.lat, float)
    assert event.viewing.lon is None
    assert event.viewing.user_agent_details is None


def test_user_agent_details_become_shared_pairs() -> None:
    one, two = compact(), compact(event_key="other")
    assert one is not None
    assert two is not None
    assert one.viewing.user_agent_details == tuple(raw_event()["user_agent_details"].items())  # type: ignore[attr-defined]
    assert (
        one.viewing.user_agent_details is two.viewing.user_agent_details
    )  # one copy for equal objects


def test_a_viewers_events_share_one_viewing() -> None:
    one, two = compact(), compact(event_key="other", received_at="2025-10-17T17:30:00Z")
    assert one is not None
    assert two is not None
    assert one.viewing is two.viewing
    changed = compact(event_key="third", city="Tacoma")
    assert changed is not None
    assert changed.viewing is not one.viewing
    assert changed.viewing.city == "Tacoma"


def test_sharing_keeps_values_python_deems_equal_apart() -> None:
    """true, 1 and 1.0 compare equal in Python; each event keeps the one it sent."""
    sent = [True, 1, 1.0]
    events = [
        compact(event_key=f"k{index}", user_agent_details={"mobile": value})
        for index, value in enumerate(sent)
    ]
    kept = [
        details[0][1]
        for event in events
        if event is not None and (details := event.viewing.user_agent_details) is not None
    ]
    assert [type(value) for value in kept] == [bool, int, float]
    south = compact(lat=-0.0)
    assert south is not None
    assert math.copysign(1.0, south.viewing.lat or 0.0) == 1.0  # -0.0 is read as 0.0


def test_nested_user_agent_details_are_kept_unshared() -> None:
    event = compact(user_agent_details={"browser": "Chrome", "hints": ["a", "b"]})
    assert event is not None
    assert event.viewing.user_agent_details == (("browser", "Chrome"), ("hints", ["a", "b"]))


def test_unicode_everywhere() -> None:
    event = compact(
        event_key="ключ-🎬",
        visitor_key="访客",
        media_name=" 東京 🎬 ",
        city="São Paulo",
        org="Zürich AG",
        email="ÜNÏ@exämple.com",
        conversion_data={"first_name": "Zoë", "last_name": "Ødegård"},
    )
    assert event is not None
    assert event.event_key == "ключ-🎬"
    assert event.viewing.media_name == "東京 🎬"
    assert event.viewing.city == "São Paulo"
    assert event.viewing.email == "ünï@exämple.com"
    assert (event.viewing.first_name, event.viewing.last_name) == ("Zoë", "Ødegård")


def test_view_events_are_immutable() -> None:
    event = compact()
    assert event is not None
    with pytest.raises(AttributeError):
        event.percent_viewed = 1.0  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
