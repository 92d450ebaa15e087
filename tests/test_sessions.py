"""Viewing sessions: the field rules, sessionize's properties and run splitting through Carry."""

from __future__ import annotations

import bisect
import gc
import json
import math
import os
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_wistia.events import UNKNOWN_MEDIA_DURATION, EventProblems, ViewEvent, Viewing
from tap_wistia.sessions import (
    ActivityBuilder,
    Carry,
    Sessions,
    UnreadableStateError,
    ViewingSession,
    WalkBrokenError,
    dedupe,
    fetch_start,
    sessionize,
)
from tap_wistia.sessions.packing import SharedValues, pack, packed_facts, unpack
from tap_wistia.sessions.record import BY_END

if TYPE_CHECKING:
    from collections.abc import Sequence

# Deeper runs: SESSIONS_EXAMPLES_SCALE=20 pytest tests/test_sessions.py
SCALE = int(os.environ.get("SESSIONS_EXAMPLES_SCALE", "1"))
T0 = datetime(2025, 10, 17, 20, 0, tzinfo=UTC)  # four hours before midnight UTC
DEFAULT_START = T0 - timedelta(days=1)
GAP = timedelta(minutes=30)
HOUR = timedelta(hours=1)
DURATIONS: dict[str, float | None] = {"m-video": 120.0, "m-audio": None, "m-short": 33.3}
STALE = Viewing(city="stale copy")  # what a worse copy of an event says
# "m-gone" is absent from DURATIONS: a deleted media whose events remain.
RECORD_FIELDS = [
    "session_id",
    "visitor_key",
    "media_id",
    "media_name",
    "media_duration",
    "percent_viewed",
    "duration_viewed",
    "started_at",
    "ended_at",
    "event_count",
    "country",
    "region",
    "city",
    "org",
    "lat",
    "lon",
    "ip",
    "embed_url",
    "user_agent_details",
    "email",
    "first_name",
    "last_name",
    "conversion_type",
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(
    key: str,
    when: float | datetime,
    *,
    visitor: str = "v1",
    media: str = "m-video",
    percent: float | None = 0.5,
    **fields: object,
) -> ViewEvent:
    received = when if isinstance(when, datetime) else at(when)
    details = fields.get("user_agent_details")
    if isinstance(details, dict):  # events carry it as (key, value) pairs
        fields["user_agent_details"] = tuple(details.items())
    return ViewEvent(
        event_key=key,
        visitor_key=visitor,
        media_id=media,
        received_at=received,
        percent_viewed=percent,
        viewing=Viewing(**fields),  # type: ignore[arg-type]
    )


def only(sessions: Sequence[ViewingSession]) -> ViewingSession:
    assert len(sessions) == 1, sessions
    return sessions[0]


def records(sessions: Sequence[ViewingSession]) -> dict[str, dict[str, object]]:
    return {session.session_id: session.to_record() for session in sessions}


# --- the field rules ------------------------------------------------------------------------


def test_one_event_makes_a_session_with_its_fields() -> None:
    details = {"browser": "Firefox", "mobile": False}
    event = ev(
        "k1",
        5,
        percent=0.25,
        media_name="Intro",
        country="BR",
        region="SP",
        city="São Paulo",
        org="Acme",
        lat=-23.5,
        lon=-46.6,
        ip="10.0.0.1",
        embed_url="https://example.com/p",
        user_agent_details=details,
        email="ana@example.com",
        first_name="Ana",
        last_name="Silva",
        conversion_type="pre-roll",
    )
    record = only(sessionize([event], DURATIONS, GAP)).to_record()
    assert record == {
        "session_id": "k1",
        "visitor_key": "v1",
        "media_id": "m-video",
        "media_name": "Intro",
        "media_duration": 120.0,
        "percent_viewed": 0.25,
        "duration_viewed": 30.0,
        "started_at": "2025-10-17T20:05:00.000000Z",
        "ended_at": "2025-10-17T20:05:00.000000Z",
        "event_count": 1,
        "country": "BR",
        "region": "SP",
        "city": "São Paulo",
        "org": "Acme",
        "lat": -23.5,
        "lon": -46.6,
        "ip": "10.0.0.1",
        "embed_url": "https://example.com/p",
        "user_agent_details": details,
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Silva",
        "conversion_type": "pre-roll",
    }
    assert list(record) == RECORD_FIELDS


def test_events_within_the_gap_form_one_session_across_midnight() -> None:
    events = [ev("a", 230, percent=0.2), ev("b", 240, percent=0.6), ev("c", 270, percent=0.1)]
    session = only(sessionize(events, DURATIONS, GAP))
    assert session.session_id == "a"
    assert session.started_at == at(230)
    assert session.ended_at == at(270)  # 00:30 UTC the next day
    assert session.ended_at.date() != session.started_at.date()
    assert session.event_count == 3
    assert session.percent_viewed == 0.6
    assert session.duration_viewed == pytest.approx((0.2 + 0.6 + 0.1) * 120.0)


def test_a_gap_of_exactly_session_gap_joins_and_a_microsecond_more_splits() -> None:
    joined = sessionize([ev("a", 0), ev("b", 30)], DURATIONS, GAP)
    assert [s.event_count for s in joined] == [2]
    later = at(30) + timedelta(microseconds=1)
    split = sessionize([ev("a", 0), ev("b", later)], DURATIONS, GAP)
    assert [s.session_id for s in split] == ["a", "b"]


def test_gap_zero_makes_every_event_its_own_session_even_at_the_same_instant() -> None:
    events = [ev("a", 0), ev("b", 0), ev("c", 1)]
    sessions = sessionize(events, DURATIONS, timedelta(0))
    assert [s.session_id for s in sessions] == ["a", "b", "c"]
    assert all(s.event_count == 1 for s in sessions)


def test_other_visitors_and_other_media_are_other_sessions() -> None:
    events = [ev("a", 0), ev("b", 1, visitor="v2"), ev("c", 2, media="m-short"), ev("d", 3)]
    sessions = sessionize(events, DURATIONS, GAP)
    by_id = {s.session_id: s.event_count for s in sessions}
    assert by_id == {"a": 2, "b": 1, "c": 1}


def test_identity_is_the_latest_non_empty_value_and_location_the_latest_event() -> None:
    events = [
        ev("a", 0, media_name="Old name", email="x@example.com", first_name="X", city="Paris"),
        ev("b", 5, media_name="New name", first_name="Y", last_name="Z", conversion_type=3),
        ev("c", 9, city="", country=None, org="Org", conversion_type=None),
    ]
    session = only(sessionize(events, DURATIONS, GAP))
    assert session.media_name == "New name"
    assert session.email == "x@example.com"
    assert session.first_name == "Y"
    assert session.last_name == "Z"
    assert session.conversion_type == 3
    # Location and network come from the latest event as it is, empty values included.
    assert session.city == ""
    assert session.country is None
    assert session.org == "Org"


def test_ties_in_received_at_are_ordered_by_event_key() -> None:
    events = [ev("b", 0, city="second"), ev("a", 0, city="first")]
    session = only(sessionize(events, DURATIONS, GAP))
    assert session.session_id == "a"
    assert session.city == "second"


def test_unknown_percent_adds_nothing_but_still_counts_as_an_event() -> None:
    session = only(sessionize([ev("a", 0, percent=None), ev("b", 5, percent=0.4)], DURATIONS, GAP))
    assert session.event_count == 2
    assert session.percent_viewed == 0.4
    assert session.duration_viewed == pytest.approx(48.0)


def test_all_percents_unknown_gives_null_percent_and_null_duration_viewed() -> None:
    session = only(sessionize([ev("a", 0, percent=None), ev("b", 5, percent=None)], DURATIONS, GAP))
    assert session.percent_viewed is None
    assert session.duration_viewed is None
    assert session.media_duration == 120.0


@pytest.mark.parametrize("media", ["m-audio", "m-gone"])
def test_unknown_duration_gives_null_duration_never_a_guess(media: str) -> None:
    session = only(sessionize([ev("a", 0, media=media, percent=0.9)], DURATIONS, GAP))
    assert session.media_duration is None
    assert session.duration_viewed is None
    assert session.percent_viewed == 0.9


@pytest.mark.parametrize("duration", [-5.0, math.nan, math.inf, "abc", True])
def test_nonsense_durations_are_unknown(duration: object) -> None:
    durations = {"m-video": duration}
    session = only(sessionize([ev("a", 0)], durations, GAP))  # type: ignore[arg-type]
    assert session.media_duration is None
    assert session.duration_viewed is None


def test_zero_duration_and_integer_duration_are_known() -> None:
    zero = only(sessionize([ev("a", 0)], {"m-video": 0}, GAP))
    assert zero.media_duration == 0.0
    assert zero.duration_viewed == 0.0
    whole = only(sessionize([ev("a", 0)], {"m-video": 60}, GAP))
    assert isinstance(whole.media_duration, float)
    assert whole.duration_viewed == 30.0


def test_sessions_are_sorted_by_ended_at_then_session_id() -> None:
    events = [ev("z", 50), ev("y", 0, visitor="v2"), ev("x", 0, visitor="v3"), ev("w", 10)]
    sessions = sessionize(events, DURATIONS, timedelta(minutes=5))
    assert [(s.ended_at, s.session_id) for s in sessions] == [
        (at(0), "x"),
        (at(0), "y"),
        (at(10), "w"),
        (at(50), "z"),
    ]


def test_unicode_everywhere_survives_the_record_and_the_fingerprint() -> None:
    event = ev(
        "ключ-1",
        0,
        visitor="访客",
        media="m-video",
        media_name="東京 🎬 Zürich",
        city="東京",
        email="ünï@exämple.com",
        first_name="Zoë",
    )
    session = only(sessionize([event], DURATIONS, GAP))
    record = session.to_record()
    assert record["session_id"] == "ключ-1"
    assert record["media_name"] == "東京 🎬 Zürich"
    assert json.loads(json.dumps(record, ensure_ascii=False)) == record
    assert len(session.fingerprint()) == 16


def test_to_record_returns_a_copy_of_nested_objects() -> None:
    session = only(sessionize([ev("a", 0, user_agent_details={"browser": "x"})], DURATIONS, GAP))
    record = session.to_record()
    record["user_agent_details"]["browser"] = "changed"
    assert session.to_record()["user_agent_details"] == {"browser": "x"}


def test_fingerprint_is_stable_and_changes_with_any_figure() -> None:
    session = only(sessionize([ev("a", 0, city="Paris")], DURATIONS, GAP))
    assert session.fingerprint() == session._replace().fingerprint()
    changes = {
        "percent_viewed": 0.51,
        "duration_viewed": 61.0,
        "ended_at": at(1),
        "event_count": 2,
        "city": "Lyon",
        "email": "a@b.c",
        "user_agent_details": (("browser", "x"),),
        "conversion_type": "1",
    }
    prints = {session._replace(**{name: value}).fingerprint() for name, value in changes.items()}  # type: ignore[arg-type]
    assert session.fingerprint() not in prints
    assert len(prints) == len(changes)


def test_integer_and_text_conversion_types_fingerprint_differently() -> None:
    session = only(sessionize([ev("a", 0, conversion_type=1)], DURATIONS, GAP))
    assert session.fingerprint() != session._replace(conversion_type="1").fingerprint()


def test_sessionizing_leaves_the_garbage_collector_as_it_found_it() -> None:
    assert gc.isenabled()
    sessionize([ev("a", 0)], DURATIONS, GAP)
    assert gc.isenabled()
    gc.disable()
    try:
        sessionize([ev("a", 0)], DURATIONS, GAP)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError, match="gap"):
        sessionize([ev("a", 0)], DURATIONS, timedelta(minutes=-1))
    assert gc.isenabled()


# --- dedupe -----------------------------------------------------------------------------------


def test_dedupe_keeps_the_highest_percent_with_none_lowest() -> None:
    copies = [ev("a", 0, percent=0.3), ev("a", 0, percent=None), ev("a", 0, percent=0.7)]
    assert [e.percent_viewed for e in dedupe(copies)] == [0.7]
    assert dedupe([ev("a", 0, percent=None), ev("a", 0, percent=0.0)])[0].percent_viewed == 0.0


def test_dedupe_breaks_percent_ties_by_the_latest_received_at() -> None:
    kept = dedupe([ev("a", 5, percent=0.3, city="late"), ev("a", 0, percent=0.3, city="early")])
    assert [e.viewing.city for e in kept] == ["late"]


def test_dedupe_is_deterministic_even_for_copies_differing_only_elsewhere() -> None:
    one, two = ev("a", 0, city="Paris"), ev("a", 0, city="Lyon")
    assert dedupe([one, two]) == dedupe([two, one])


def test_dedupe_keeps_one_per_key() -> None:
    kept = dedupe([ev("a", 0), ev("b", 1), ev("a", 0), ev("c", 2), ev("b", 1)])
    assert sorted(e.event_key for e in kept) == ["a", "b", "c"]


# --- sessionize properties --------------------------------------------------------------------

VISITORS = ("v1", "v2", "v3")
MEDIA = ("m-video", "m-audio", "m-short", "m-gone")
SPAN_MINUTES = 3 * 24 * 60
MIDNIGHTS = [datetime(2025, 10, day, tzinfo=UTC) for day in (18, 19, 20, 21)]
percents = st.none() | st.floats(0, 1)


@st.composite
def event_sets(draw: st.DrawFn, max_events: int = 30) -> list[ViewEvent]:
    """Events clustered around a few moments, so sessions, ties and midnights all occur."""
    bases = draw(st.lists(st.integers(0, SPAN_MINUTES), min_size=1, max_size=5))
    count = draw(st.integers(0, max_events))
    events = []
    for number in range(count):
        minute = draw(st.sampled_from(bases)) + draw(st.integers(0, 100))
        second = draw(st.sampled_from((0, 0, 17, 59)))
        events.append(
            ViewEvent(
                event_key=f"e{number:03d}",
                visitor_key=draw(st.sampled_from(VISITORS)),
                media_id=draw(st.sampled_from(MEDIA)),
                received_at=T0 + timedelta(minutes=minute, seconds=second),
                percent_viewed=draw(percents),
                viewing=Viewing(
                    media_name=draw(st.sampled_from((None, "Intro", "Démo 東京"))),
                    city=draw(st.sampled_from((None, "", "Zürich", "Lyon"))),
                    email=draw(st.sampled_from((None, "a@example.com", "b@example.com"))),
                    conversion_type=draw(st.sampled_from((None, "pre-roll", 2))),
                ),
            )
        )
    return events


@st.composite
def with_copies(draw: st.DrawFn) -> list[ViewEvent]:
    """Events plus page-shift copies (same event_key and received_at, any percent)."""
    events = draw(event_sets())
    if events:
        for index, percent in draw(
            st.lists(st.tuples(st.integers(0, len(events) - 1), percents), max_size=6)
        ):
            events.append(events[index]._replace(percent_viewed=percent))
    return events


gaps = st.sampled_from([GAP, timedelta(0), timedelta(minutes=7)])
lookbacks = st.sampled_from([timedelta(0), HOUR, 6 * HOUR, timedelta(days=1)])


@settings(max_examples=60 * SCALE, deadline=None)
@given(events=with_copies(), gap=gaps, seed=st.integers(0, 2**32))
def test_sessionize_ignores_input_order(events: list[ViewEvent], gap: timedelta, seed: int) -> None:
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    assert sessionize(shuffled, DURATIONS, gap) == sessionize(events, DURATIONS, gap)
    assert sessionize(dedupe(events), DURATIONS, gap) == sessionize(events, DURATIONS, gap)


@settings(max_examples=60 * SCALE, deadline=None)
@given(events=event_sets(), gap=gaps, data=st.data())
def test_sessionize_ignores_worse_duplicates(
    events: list[ViewEvent], gap: timedelta, data: st.DataObject
) -> None:
    worse = []
    picks = data.draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    for event in picks:
        best = event.percent_viewed
        if best is None or best == 0.0 or data.draw(st.booleans()):
            # Same percent, received earlier: the later copy wins the tie.
            earlier = event.received_at - timedelta(seconds=1)
            worse.append(event._replace(received_at=earlier, viewing=STALE))
        else:
            lower = data.draw(st.none() | st.floats(0, best, exclude_max=True))
            worse.append(event._replace(percent_viewed=lower, viewing=STALE))
    mixed = worse + events + worse
    assert sessionize(mixed, DURATIONS, gap) == sessionize(events, DURATIONS, gap)


@settings(max_examples=60 * SCALE, deadline=None)
@given(events=with_copies(), gap=gaps)
def test_sessionize_partitions_the_deduplicated_events(
    events: list[ViewEvent], gap: timedelta
) -> None:
    sessions = sessionize(events, DURATIONS, gap)
    unique = dedupe(events)
    assert sum(s.event_count for s in sessions) == len(unique)
    assert len({s.session_id for s in sessions}) == len(sessions)
    for session in sessions:
        assert session.started_at <= session.ended_at
        if session.percent_viewed is not None:
            assert 0.0 <= session.percent_viewed <= 1.0
    assert [(s.ended_at, s.session_id) for s in sessions] == sorted(
        (s.ended_at, s.session_id) for s in sessions
    )


# --- runs: ActivityBuilder + Carry -----------------------------------------------------------


WALK_ORDERS = ("none", "newest first", "nearly newest first", "oldest first", "shuffled")


def feed(
    builder: ActivityBuilder, events: list[ViewEvent], rng: random.Random, walk: str = "none"
) -> bool:
    """Add events as a run does: shuffled, or walked (pages, a sweep after each) in some order.

    A walk the order breaks is abandoned and the events are added again, as the tap re-reads a
    unit. Returns whether a walk broke.
    """
    chunk = list(events)
    rng.shuffle(chunk)
    if walk == "none":
        for event in chunk:
            builder.add(event)
        return False
    if walk != "shuffled":
        chunk.sort(key=lambda e: e.received_at, reverse=walk != "oldest first")
    if walk == "nearly newest first":
        for _ in range(rng.randint(1, 3)):
            if len(chunk) > 1:
                i, j = rng.sample(range(len(chunk)), 2)
                chunk[i], chunk[j] = chunk[j], chunk[i]
    builder.start_walk()
    position = 0
    try:
        while position < len(chunk):
            size = rng.randint(1, 8)
            for event in chunk[position : position + size]:
                builder.add(event)
            position += size
            builder.sweep()
    except WalkBrokenError:
        builder.abandon_walk()
        for event in events:
            builder.add(event)
        return True
    return False


def walk(rng: random.Random) -> str:
    """How a run feeds one chunk: shuffled, or walked in one of the orders."""
    return rng.choice(WALK_ORDERS)


def play_run(
    events: list[ViewEvent],
    carry: Carry | None,
    cut: datetime,
    *,
    gap: timedelta,
    lookback: timedelta,
    settle_at: list[datetime],
    interrupt_after: int | None = None,
    rng: random.Random,
) -> tuple[list[ViewingSession], Carry]:
    """One tap run: read from fetch_start to the cut, settle at some points, finish at the cut.

    Events received before the run's fetch start are invisible to it, as in reality. An
    interrupted run stops right after its `interrupt_after`-th settle and stores that carry.
    """
    start = fetch_start(carry, lookback=lookback, default=DEFAULT_START)
    visible = [e for e in events if start <= e.received_at < cut]
    builder = ActivityBuilder(DURATIONS, gap=gap, lookback=lookback, carry=carry)
    emitted: list[ViewingSession] = []
    lower = start
    for number, point in enumerate(sorted({p for p in settle_at if start <= p < cut})):
        feed(builder, [e for e in visible if lower <= e.received_at < point], rng, walk(rng))
        emitted += builder.settle(point)
        lower = point
        if number == interrupt_after:
            return emitted, builder.carry
    feed(builder, [e for e in visible if lower <= e.received_at], rng, walk(rng))
    emitted += builder.finish(cut)
    return emitted, builder.carry


@st.composite
def run_plans(draw: st.DrawFn, events: list[ViewEvent], gap: timedelta) -> dict[str, object]:
    """Cuts and settle points: around midnights, and at, just around or one gap after events.

    Points on the boundaries (an event exactly at a watermark, a session ending exactly one gap
    before it) are where an off-by-one would hide, so many points are drawn there.
    """
    moments = sorted({e.received_at for e in events})
    tick = timedelta(microseconds=1)
    nudges = (timedelta(0), tick, -tick, gap, gap + tick)

    def near_events(max_size: int) -> list[datetime]:
        if not moments:
            return []
        pairs = st.tuples(st.sampled_from(moments), st.sampled_from(nudges))
        return [moment + nudge for moment, nudge in draw(st.lists(pairs, max_size=max_size))]

    cuts = {at(m) for m in draw(st.lists(st.integers(0, SPAN_MINUTES + 200), max_size=4))}
    cuts.update(near_events(6))
    for midnight in MIDNIGHTS[:3]:
        cuts.update(midnight + d * tick for d in draw(st.sets(st.sampled_from((-1, 0, 1)))))
    cut_times = sorted(cuts)
    cut_times.append(at(SPAN_MINUTES + 200) + timedelta(days=1))  # after every event
    per_day = draw(st.booleans())
    extra = [at(m) for m in draw(st.lists(st.integers(0, SPAN_MINUTES + 200), max_size=2))]
    interrupts = draw(
        st.lists(
            st.sampled_from((None, None, 0, 1)), min_size=len(cut_times), max_size=len(cut_times)
        )
    )
    interrupts[-1] = None
    return {
        "cuts": cut_times,
        "settle_at": (MIDNIGHTS if per_day else []) + extra + near_events(4),
        "interrupts": interrupts,
        "lookbacks": draw(st.lists(lookbacks, min_size=1, max_size=3)),
        "seed": draw(st.integers(0, 2**32)),
    }


def play_history(
    events: list[ViewEvent], plan: dict[str, object], gap: timedelta
) -> tuple[dict[str, dict[str, object]], Carry, list[list[ViewingSession]]]:
    """All runs of a plan; the destination keeps the latest record per session_id."""
    rng = random.Random(plan["seed"])  # type: ignore[arg-type]
    cuts: list[datetime] = plan["cuts"]  # type: ignore[assignment]
    run_lookbacks: list[timedelta] = plan["lookbacks"]  # type: ignore[assignment]
    interrupts: list[int | None] = plan["interrupts"]  # type: ignore[assignment]
    destination: dict[str, dict[str, object]] = {}
    carry = None
    per_run = []
    for number, cut in enumerate(cuts):
        emitted, carry = play_run(
            events,
            carry,
            cut,
            gap=gap,
            lookback=run_lookbacks[number % len(run_lookbacks)],
            settle_at=plan["settle_at"],  # type: ignore[arg-type]
            interrupt_after=interrupts[number],
            rng=rng,
        )
        for session in emitted:  # emitted again only when it changed
            record = session.to_record()
            assert destination.get(session.session_id) != record, session.session_id
            destination[session.session_id] = record
        per_run.append(emitted)
    assert carry is not None
    return destination, carry, per_run


@settings(max_examples=100 * SCALE, deadline=None)
@given(events=with_copies(), gap=gaps, data=st.data())
def test_hourly_runs_give_the_same_sessions_as_one_run(
    events: list[ViewEvent], gap: timedelta, data: st.DataObject
) -> None:
    plan = data.draw(run_plans(events, gap))
    destination, carry, _ = play_history(events, plan, gap)
    assert destination == records(sessionize(events, DURATIONS, gap))

    # A run that sees no new or changed events emits nothing.
    lookback = plan["lookbacks"][-1]  # type: ignore[index]
    quiet, _ = play_run(
        events,
        carry,
        carry.watermark + HOUR,
        gap=gap,
        lookback=lookback,
        settle_at=[],
        rng=random.Random(1),
    )
    assert quiet == []


@settings(max_examples=40 * SCALE, deadline=None)
@given(
    events=event_sets(),
    gap=gaps,
    lookback=st.sampled_from([HOUR, 6 * HOUR, timedelta(days=1)]),
    data=st.data(),
)
def test_a_late_percent_update_within_the_lookback_reemits_only_its_session(
    events: list[ViewEvent],
    gap: timedelta,
    lookback: timedelta,
    data: st.DataObject,
) -> None:
    plan = data.draw(run_plans(events, gap))
    last = max((e.received_at for e in events), default=T0)
    final = last + timedelta(minutes=data.draw(st.integers(1, 180)))
    cuts = [c for c in plan["cuts"] if c < final] + [final]  # type: ignore[attr-defined]
    interrupts = [*plan["interrupts"][: len(cuts) - 1], None]  # type: ignore[index]
    plan = {**plan, "cuts": cuts, "interrupts": interrupts, "lookbacks": [lookback]}
    recent = [e for e in events if e.received_at >= final - lookback]
    if not recent:  # make sure one event sits in the lookback window
        recent = [ev("late", final - lookback / 2, percent=0.1)]
        events = [*events, recent[0]]
    _, carry, _ = play_history(events, plan, gap)
    assert carry.watermark == final
    target = data.draw(st.sampled_from(recent))
    grown = data.draw(st.floats(target.percent_viewed or 0.0, 1.0))
    updated = [e._replace(percent_viewed=grown) if e == target else e for e in events]
    before = records(sessionize(events, DURATIONS, gap))
    after = records(sessionize(updated, DURATIONS, gap))
    changed = {sid for sid, record in after.items() if before.get(sid) != record}

    emitted, _ = play_run(
        updated,
        carry,
        carry.watermark + HOUR,
        gap=gap,
        lookback=lookback,
        settle_at=[],
        rng=random.Random(2),
    )
    assert {s.session_id for s in emitted} == changed
    assert len(changed) <= 1
    assert records(emitted) == {sid: after[sid] for sid in changed}


def test_a_late_update_reemits_the_session_with_new_figures() -> None:
    events = [ev("a", 0, percent=0.2), ev("b", 10, percent=0.3), ev("c", 200, visitor="v2")]
    first, carry = play_run(
        events, None, at(240), gap=GAP, lookback=4 * HOUR, settle_at=[], rng=random.Random(0)
    )
    assert {s.session_id: s.duration_viewed for s in first} == pytest.approx({"a": 60.0, "c": 60.0})
    updated = [events[1]._replace(percent_viewed=0.9) if e.event_key == "b" else e for e in events]
    second, carry = play_run(
        updated, carry, at(300), gap=GAP, lookback=4 * HOUR, settle_at=[], rng=random.Random(0)
    )
    session = only(second)
    assert session.session_id == "a"
    assert session.percent_viewed == 0.9
    assert session.duration_viewed == pytest.approx((0.2 + 0.9) * 120.0)
    third, _ = play_run(
        updated, carry, at(360), gap=GAP, lookback=4 * HOUR, settle_at=[], rng=random.Random(0)
    )
    assert third == []


def test_an_update_older_than_the_window_is_never_emitted_as_a_truncated_session() -> None:
    events = [ev("a", 0, percent=0.2), ev("b", 20, percent=0.3), ev("c", 600, visitor="v2")]
    _, carry = play_run(
        events, None, at(610), gap=GAP, lookback=HOUR, settle_at=[], rng=random.Random(0)
    )
    # "a" and "b" ended long before watermark - lookback - gap: they are final.
    updated = [e._replace(percent_viewed=1.0) if e.event_key == "b" else e for e in events]
    emitted, _ = play_run(
        updated,
        carry,
        at(700),
        gap=GAP,
        lookback=10 * HOUR,  # a longer lookback now re-reads "b" but not "a"
        settle_at=[],
        rng=random.Random(0),
    )
    assert emitted == []


def test_an_interrupted_run_resumes_from_the_carry_of_its_last_settle() -> None:
    events = [ev("a", 230), ev("b", 250), ev("c", 300, visitor="v2"), ev("d", 320)]
    midnight = MIDNIGHTS[0]
    part, carry = play_run(
        events,
        None,
        at(400),
        gap=GAP,
        lookback=HOUR,
        settle_at=[midnight],
        interrupt_after=0,
        rng=random.Random(0),
    )
    assert part == []  # at midnight only "a" (23:50) was read: its session is still open
    assert carry.watermark == midnight
    rest, carry = play_run(
        events, carry, at(400), gap=GAP, lookback=HOUR, settle_at=[], rng=random.Random(0)
    )
    assert records(rest) == records(sessionize(events, DURATIONS, GAP))
    again, _ = play_run(
        events, carry, at(460), gap=GAP, lookback=HOUR, settle_at=[], rng=random.Random(0)
    )
    assert again == []


def burst_history(days: int, bursts_per_day: int, seed: int) -> list[ViewEvent]:
    """Viewers watching in bursts of 1-5 events 1-20 minutes apart, hours or days apart."""
    rng = random.Random(seed)
    events = []
    for day in range(days):
        for burst in range(bursts_per_day):
            moment = T0 + timedelta(days=day, seconds=rng.randrange(86400))
            visitor, media = f"v{rng.randrange(60)}", rng.choice(MEDIA)
            for step in range(rng.randint(1, 5)):
                events.append(ev(f"d{day}-b{burst}-{step}", moment, visitor=visitor, media=media))
                moment += timedelta(minutes=rng.randint(1, 20))
    events.sort(key=lambda e: e.received_at)
    return events


def test_the_carry_stays_bounded_by_the_window_over_a_long_history() -> None:
    events = burst_history(days=30, bursts_per_day=30, seed=7)
    times = [e.received_at for e in events]
    lookback = timedelta(hours=12)
    rng = random.Random(3)
    carry: Carry | None = None
    destination: dict[str, dict[str, object]] = {}
    sizes = []
    cut = T0
    while cut < events[-1].received_at + timedelta(days=1):
        cut += timedelta(hours=3)
        start = fetch_start(carry, lookback=lookback, default=DEFAULT_START)
        visible = events[bisect.bisect_left(times, start) : bisect.bisect_left(times, cut)]
        builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=lookback, carry=carry)
        midnight = datetime.combine(cut.date(), datetime.min.time(), UTC)
        before = [e for e in visible if e.received_at < midnight]
        if before and midnight > start:
            feed(builder, before, rng, "newest first")
            destination.update(records(builder.settle(midnight)))
            open_events = sum(
                s.event_count
                for s in sessionize(before, DURATIONS, GAP)
                if s.ended_at >= midnight - GAP
            )
            assert builder.held_events == open_events  # closed sessions are freed
        feed(builder, visible[len(before) :], rng, "newest first")
        destination.update(records(builder.finish(cut)))
        carry = builder.carry

        horizon = cut - lookback - GAP
        recent = events[bisect.bisect_left(times, horizon - timedelta(days=1)) :]
        window = [
            s
            for s in sessionize([e for e in recent if e.received_at < cut], DURATIONS, GAP)
            if s.ended_at >= horizon
        ]
        assert carry.horizon == horizon
        assert set(carry.emitted) == {s.session_id for s in window}
        assert carry.reread_from == min((s.started_at for s in window), default=None)
        sizes.append(len(json.dumps(carry.to_state())))

    everything = sessionize(events, DURATIONS, GAP)
    assert destination == records(everything)
    # The state follows the window's activity, not the history: under 80 bytes per session in
    # the window, and no bigger at the end of the month than at its start.
    assert max(sizes) < 80 * 40 + 200
    assert max(sizes[-80:]) < 2 * max(sizes[:80])
    assert len(everything) > 700


# --- builder contract -------------------------------------------------------------------------


def test_walking_a_busy_day_newest_first_holds_a_fraction_of_its_events() -> None:
    events = burst_history(days=1, bursts_per_day=600, seed=11)
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.start_walk()
    newest_first = sorted(events, key=lambda e: e.received_at, reverse=True)
    held = []
    for start in range(0, len(newest_first), 100):  # pages of 100, a sweep after each
        for event in newest_first[start : start + 100]:
            builder.add(event)
        builder.sweep()
        held.append(builder.held_events)
    assert max(held) < len(events) / 4, (max(held), len(events))
    emitted = builder.finish(at(24 * 60 * 2))
    assert records(emitted) == records(sessionize(events, DURATIONS, GAP))
    assert emitted == sessionize(events, DURATIONS, GAP)  # also sorted the same way


def test_a_walk_of_a_day_past_remembers_the_events_of_its_last_two_sweeps_only() -> None:
    events = burst_history(days=1, bursts_per_day=600, seed=11)
    newest_first = sorted(events, key=lambda e: e.received_at, reverse=True)
    remembered = {}
    for live in (True, False):
        builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
        builder.start_walk(live=live)
        most = 0
        for start in range(0, len(newest_first), 100):
            for event in newest_first[start : start + 100]:
                builder.add(event)
            builder.sweep()
            walk = builder._walk
            assert walk is not None
            most = max(most, len(walk.swept_keys) + len(walk.swept_before))
        remembered[live] = most
        assert builder.finish(at(24 * 60 * 2)) == sessionize(events, DURATIONS, GAP)
    assert remembered[True] > len(events) / 2  # every swept event of the day
    assert remembered[False] <= 200 + 100  # two sweeps, each of about a page


def test_a_day_walked_oldest_first_breaks_the_walk_at_once_and_still_gives_its_sessions() -> None:
    events = burst_history(days=1, bursts_per_day=300, seed=5)
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    assert feed(builder, events, random.Random(1), "oldest first")  # the walk broke
    assert builder.finish(at(24 * 60 * 2)) == sessionize(events, DURATIONS, GAP)


def swept_walk(*, live: bool = True) -> ActivityBuilder:
    """A walk that has swept v2's session (minute 100) and kept v1's, the day's newest (200)."""
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.start_walk(live=live)
    for event in WALKED:
        builder.add(event)
    builder.sweep()
    assert builder.held_events == 2  # "a" may still grow with the next day; "c" is the oldest
    return builder


WALKED = [ev("a", 200), ev("b", 100, visitor="v2"), ev("c", 10, visitor="v3")]


@pytest.mark.parametrize("live", [True, False])
@pytest.mark.parametrize(
    ("breaker", "why"),
    [
        (ev("d", 75, visitor="v2"), "comes after one received at"),  # would join "b"
        (ev("d", 175), "comes after one received at"),  # would join "a"
        (ev("b", 100, visitor="v2", percent=0.9), "copy of an event already swept"),
        (ev("b", 5, visitor="v2", percent=0.9), "copy of an event already swept"),
        (ev("c", 11, visitor="v3", percent=0.9), "copy of it received at another time"),
    ],
)
def test_an_event_breaking_the_order_near_decided_sessions_breaks_the_walk(
    breaker: ViewEvent, why: str, live: bool
) -> None:
    builder = swept_walk(live=live)
    with pytest.raises(WalkBrokenError, match=why):
        builder.add(breaker)
    builder.abandon_walk()
    everything = [*WALKED, breaker]
    for event in everything:
        builder.add(event)
    assert builder.finish(at(300)) == sessionize(everything, DURATIONS, GAP)


def test_an_event_out_of_order_far_from_decided_sessions_is_taken() -> None:
    builder = swept_walk()
    builder.add(ev("d", 69, visitor="v2"))  # 31 minutes before "b": its own session
    builder.add(ev("e", 50, visitor="v4"))  # more than a gap before "b": nothing decided
    builder.add(ev("c", 10, visitor="v3", percent=0.9))  # a better copy, same time
    everything = [*WALKED, ev("d", 69, visitor="v2"), ev("e", 50, visitor="v4")]
    everything.append(ev("c", 10, visitor="v3", percent=0.9))
    assert builder.finish(at(300)) == sessionize(everything, DURATIONS, GAP)


def test_sessions_swept_before_the_horizon_are_not_emitted_again() -> None:
    carry = Carry(watermark=at(300), reread_from=None, horizon=at(150))
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=carry)
    builder.start_walk()
    for event in [ev("z", 400), *WALKED]:
        builder.add(event)
    builder.sweep()
    emitted = builder.finish(at(500))
    assert [s.session_id for s in emitted] == ["a", "z"]  # "b" ended before the horizon


def test_settle_emits_closed_sessions_only_and_frees_their_events() -> None:
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    for event in [ev("a", 0), ev("b", 10), ev("c", 100), ev("d", 125, visitor="v2")]:
        builder.add(event)
    emitted = builder.settle(at(141))  # "a"-"b" ended at 10 < 141 - 30; "c" at 100 < 111
    assert [s.session_id for s in emitted] == ["a", "c"]
    assert builder.held_events == 1  # only "d" is open
    builder.add(ev("e", 150, visitor="v2"))
    final = builder.finish(at(160))
    assert [(s.session_id, s.event_count) for s in final] == [("d", 2)]
    assert builder.held_events == 0


def test_a_session_ending_exactly_one_gap_before_the_watermark_stays_open() -> None:
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.add(ev("a", 0))
    assert builder.settle(at(30)) == []  # an event received at 30 would still join "a"
    builder.add(ev("b", 30))
    assert builder.settle(at(60)) == []
    closed = builder.settle(at(60) + timedelta(microseconds=1))
    assert [(s.session_id, s.event_count) for s in closed] == [("a", 2)]
    assert builder.held_events == 0


def test_with_gap_zero_a_session_closes_once_the_watermark_passes_it() -> None:
    builder = ActivityBuilder(DURATIONS, gap=timedelta(0), lookback=HOUR, carry=None)
    builder.add(ev("a", 0))
    builder.add(ev("b", 0))
    assert builder.settle(at(0)) == []
    assert [s.session_id for s in builder.settle(at(0) + timedelta(microseconds=1))] == ["a", "b"]


def test_adding_an_event_older_than_a_settled_watermark_is_refused() -> None:
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.add(ev("a", 0))
    builder.add(ev("b", 100))
    builder.settle(at(110))
    builder.add(ev("b", 100, percent=0.9))  # a copy of an event still held is welcome
    with pytest.raises(ValueError, match=r"added after settle\(2025-10-17T21:50:00.000000Z\)"):
        builder.add(ev("late", 5))
    assert only(builder.finish(at(200))).percent_viewed == 0.9


def test_watermarks_only_move_forward_and_a_finished_run_takes_nothing() -> None:
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.settle(at(60))
    with pytest.raises(ValueError, match="only move forward"):
        builder.settle(at(30))
    builder.finish(at(60))
    with pytest.raises(RuntimeError, match="finished"):
        builder.add(ev("a", 70))


def test_carry_before_any_settle() -> None:
    with pytest.raises(RuntimeError, match="first settle"):
        _ = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None).carry
    carry = Carry(watermark=at(0), reread_from=None)
    assert ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=carry).carry is carry


def test_negative_settings_are_refused_with_their_name() -> None:
    with pytest.raises(ValueError, match="gap must be zero or positive"):
        sessionize([], DURATIONS, timedelta(minutes=-1))
    with pytest.raises(ValueError, match="lookback must be zero or positive"):
        ActivityBuilder(DURATIONS, gap=GAP, lookback=-HOUR, carry=None)


def test_events_of_medias_without_duration_are_counted_once_emitted() -> None:
    problems = EventProblems()
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None, problems=problems)
    for event in [ev("a", 0, media="m-gone"), ev("b", 5, media="m-gone"), ev("c", 0)]:
        builder.add(event)
    builder.finish(at(60))
    assert problems[UNKNOWN_MEDIA_DURATION] == 2
    assert builder.problems is problems


def test_a_hand_built_carry_without_horizon_uses_watermark_minus_lookback_and_gap() -> None:
    events = [ev("a", 0), ev("b", 300)]
    carry = Carry(watermark=at(200), reread_from=at(0))  # no horizon: 200 - 60 - 30 = 110 min
    emitted, _ = play_run(
        events, carry, at(400), gap=GAP, lookback=HOUR, settle_at=[], rng=random.Random(0)
    )
    assert [s.session_id for s in emitted] == ["b"]


# --- Carry state and fetch_start --------------------------------------------------------------


def test_carry_state_round_trips_through_json() -> None:
    carry = Carry(
        watermark=at(60),
        reread_from=at(-30),
        emitted={"ключ": "0123456789abcdef", "k2": "fedcba9876543210"},
        horizon=at(-30),
    )
    state = json.loads(json.dumps(carry.to_state()))
    assert state["watermark"] == "2025-10-17T21:00:00.000000Z"
    assert Carry.from_state(state) == carry
    bare = Carry(watermark=at(60), reread_from=None)
    assert Carry.from_state(json.loads(json.dumps(bare.to_state()))) == bare


@pytest.mark.parametrize("state", [None, {}])
def test_no_stored_carry_means_a_first_run(state: object) -> None:
    assert Carry.from_state(state) is None


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ("garbage", "expected an object, got str"),
        ({"emitted": {}}, "watermark None is not a timestamp"),
        ({"watermark": "yesterday"}, "watermark 'yesterday' is not a timestamp"),
        ({"watermark": "2025-10-17T00:00:00Z", "reread_from": 5}, "reread_from 5 is not"),
        ({"watermark": "2025-10-17T00:00:00Z", "horizon": "x"}, "horizon 'x' is not"),
        ({"watermark": "2025-10-17T00:00:00Z", "emitted": {"a": 1}}, "emitted must map"),
        ({"watermark": "2025-10-17T00:00:00Z", "emitted": ["a"]}, "emitted must map"),
        ({"watermark": "2025-10-17T00:00:00Z", "version": 9}, "version 9 is not 1"),
    ],
)
def test_a_malformed_carry_is_an_error_the_user_can_act_on(state: object, problem: str) -> None:
    with pytest.raises(UnreadableStateError, match="meltano state clear") as caught:
        Carry.from_state(state)
    assert problem in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_carry_without_optional_fields_is_read() -> None:
    carry = Carry.from_state({"watermark": "2025-10-17T20:00:00Z"})
    assert carry == Carry(watermark=T0, reread_from=None, emitted={}, horizon=None)


def test_fetch_start_reaches_back_to_the_lookback_or_the_earliest_window_session() -> None:
    assert fetch_start(None, lookback=HOUR, default=DEFAULT_START) == DEFAULT_START
    carry = Carry(watermark=at(600), reread_from=at(480))
    assert fetch_start(carry, lookback=HOUR, default=DEFAULT_START) == at(480)
    assert fetch_start(carry, lookback=5 * HOUR, default=DEFAULT_START) == at(300)
    no_window = Carry(watermark=at(600), reread_from=None)
    assert fetch_start(no_window, lookback=HOUR, default=DEFAULT_START) == at(540)


# --- swept sessions wait packed -----------------------------------------------------------------


def odd_session(
    key: str = "a", when: float = 0, media: str = "m-audio", **fields: Any
) -> ViewingSession:
    values: dict[str, Any] = {
        "media_name": "東京 🎬",
        "user_agent_details": {"nested": [1, {"b": None}], "t": True, "i": 1, "f": 1.0},
        "conversion_type": 7,
        "lat": -0.5,
    }
    values.update(fields)
    return only(sessionize([ev(key, when, media=media, **values)], DURATIONS, GAP))


def test_a_packed_session_unpacks_equal_field_for_field_with_the_same_fingerprint() -> None:
    shared = SharedValues()
    for session in (
        odd_session(),
        odd_session(percent=None, conversion_type="", city=None),
    ):
        packed = pack(session, shared)
        assert packed is not None
        back = unpack(packed, shared)
        assert back == session
        assert [type(value) for value in back] == [type(value) for value in session]
        assert back.user_agent_details == session.user_agent_details  # pairs stay tuples
        assert back.fingerprint() == session.fingerprint()
        assert back.to_record() == session.to_record()
        assert len(packed) < 200
        unknown = session.event_count if session.media_duration is None else 0
        assert packed_facts(packed) == (session.ended_at, session.session_id, unknown)
    known = odd_session(media="m-video")
    assert packed_facts(pack(known, shared) or b"") == (known.ended_at, "a", 0)


def test_shared_values_keep_apart_what_python_deems_equal() -> None:
    shared = SharedValues()
    sessions = [
        odd_session("a", user_agent_details={"mobile": 1}),
        odd_session("b", user_agent_details={"mobile": True}),
        odd_session("c", user_agent_details={"mobile": 1.0}),
    ]
    packed = [pack(session, shared) for session in sessions]
    for session, entry in zip(sessions, packed, strict=True):
        assert entry is not None
        back = unpack(entry, shared)
        assert back.to_record() == session.to_record()
        details = back.user_agent_details or ()
        assert [type(value) for _, value in details] == [
            type(value) for _, value in session.user_agent_details or ()
        ]


@pytest.mark.parametrize(
    "session",
    [
        odd_session(conversion_type=2**70),  # beyond msgpack's 64 bits
        odd_session(ip="x\ud800y"),  # a lone surrogate (json reads them), not a shared value
        odd_session(key="a\0b"),  # a NUL would end the sort key early
    ],
)
def test_what_packing_cannot_hold_exactly_is_not_packed(session: ViewingSession) -> None:
    assert pack(session, SharedValues()) is None


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.text(alphabet="aáb\U0001f600", max_size=3)),
        max_size=12,
    )
)
def test_packed_sessions_sort_as_sessions_do(keys: list[tuple[int, str]]) -> None:
    sessions = [odd_session(key, minutes) for minutes, key in keys]
    shared = SharedValues()
    packed = [pack(session, shared) for session in sessions]
    assert sorted([unpack(p, shared) for p in packed if p is not None], key=BY_END) == [
        unpack(p, shared) for p in sorted(p for p in packed if p is not None)
    ]


def test_sessions_merge_packed_and_whole_in_order_and_compare_as_lists() -> None:
    made = [odd_session(key, minutes) for key, minutes in [("b", 1), ("a", 3), ("c", 3), ("d", 0)]]
    sessions = sorted(made, key=BY_END)
    shared = SharedValues()
    packed = sorted(
        p for p in (pack(sessions[1], shared), pack(sessions[3], shared)) if p is not None
    )
    merged = Sessions(packed, [sessions[0], sessions[2]], shared)
    assert len(merged) == 4
    assert list(merged) == sessions
    assert merged == sessions
    assert merged != sessions[::-1]
    assert merged[1] == sessions[1]
    assert merged[-1] == sessions[-1]
    assert Sessions([], []) == []


def test_a_walked_day_waits_packed_except_what_cannot_be_packed() -> None:
    events = burst_history(days=1, bursts_per_day=300, seed=3)
    odd = [
        ev("z\0nul", at(24 * 60 - 300), visitor="odd-1"),
        ev("z-big", at(24 * 60 - 300), visitor="odd-2", conversion_type=2**70),
    ]
    everything = events + odd
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    builder.start_walk()
    newest_first = sorted(everything, key=lambda e: e.received_at, reverse=True)
    for start in range(0, len(newest_first), 100):
        for event in newest_first[start : start + 100]:
            builder.add(event)
        builder.sweep()
    emitted = builder.finish(at(24 * 60 * 2))
    assert len(emitted._packed) > len(emitted) / 2  # the walk swept most of the day
    assert {"z\0nul", "z-big"} <= {session.session_id for session in emitted._whole}
    assert emitted == sessionize(everything, DURATIONS, GAP)
    unwalked = ActivityBuilder(DURATIONS, gap=GAP, lookback=HOUR, carry=None)
    for event in everything:
        unwalked.add(event)
    unwalked.finish(at(24 * 60 * 2))
    assert builder.problems[UNKNOWN_MEDIA_DURATION] == unwalked.problems[UNKNOWN_MEDIA_DURATION]
    assert builder.problems[UNKNOWN_MEDIA_DURATION] > 0
