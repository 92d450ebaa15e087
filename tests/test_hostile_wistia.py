"""tap-wistia against servers that misbehave on purpose: repeated pages, edited state."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from tap_wistia.seen import MAX_REPEATED_PAGES, RepeatedPageError
from tests.clock import END, clock_at, run_moment
from tests.harness import run_tap
from tests.hostile import HostileServer, Script, Seen

TOKEN = "hostile-wistia-token"
DAY = (END - dt.timedelta(days=1)).date()


@pytest.fixture(autouse=True)
def now():
    with clock_at(run_moment(END)):
        yield


def event(n: int, day: dt.date = DAY) -> dict[str, Any]:
    """An event of `day`; higher `n` is older, as Wistia pages newest first."""
    at = dt.datetime.combine(day, dt.time(23, 59), dt.UTC) - dt.timedelta(seconds=60 * n)
    return {
        "event_key": f"k{day:%m%d}-{n:04d}",
        "received_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "visitor_key": f"v{n % 7}",
        "media_id": "abc123",
        "media_name": "Intro",
        "percent_viewed": 0.5,
    }


def pages_of(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [events[start : start + 100] for start in range(0, len(events), 100)]


def config(server: HostileServer) -> dict[str, Any]:
    return {"api_token": TOKEN, "api_url": server.url, "start_date": DAY.isoformat()}


def emitted_keys(out) -> Counter[str]:
    return Counter(record["event_key"] for record in out.of("wistia_events"))


def test_a_page_served_several_times_gives_each_event_once():
    # The day holds 300 events; the server answers page 1 three times before the others.
    day = pages_of([event(n) for n in range(300)])
    script = [day[0], day[0], day[0], day[1], day[2], []]

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        if request.query["start_date"] != DAY.isoformat():
            return Script.json([])
        page = int(request.query["page"])
        return Script.json(script[page - 1] if page <= len(script) else [])

    with HostileServer(answer) as server:
        out = run_tap(config(server), select={"wistia_events"})
    keys = emitted_keys(out)
    assert len(keys) == 300
    assert set(keys.values()) == {1}, keys.most_common(3)
    assert out.tap.viewing_run().report.pages_repeated == 2


def test_a_server_ignoring_page_stops_the_run_clearly_instead_of_paging_forever():
    same = [event(n) for n in range(100)]

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        return Script.json(same)  # whatever the day and the page

    with HostileServer(answer) as server:
        cfg = {**config(server), "max_parallel_requests": 2}
        out = run_tap(cfg, select={"wistia_events"}, expect_error=True)
        requests = len(server.seen("/stats/events.json"))
    assert isinstance(out.error, RepeatedPageError)
    assert "ignore the `page` parameter" in str(out.error)
    # Bounded: the repeated pages in a row, and what two workers read ahead meanwhile.
    assert requests <= MAX_REPEATED_PAGES + 1 + 2 * 4 * 2, requests
    assert set(emitted_keys(out).values()) == {1}
    # Nothing was finished, so no bookmark passed these events.
    assert all("replication_key_value" not in str(state) for state in out.states)


def test_the_same_page_for_every_day_is_emitted_once():
    # A server answering every day's first page with the same events, and nothing after it.
    same = [event(n) for n in range(40)]

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        return Script.json(same if request.query["page"] == "1" else [])

    with HostileServer(answer) as server:
        out = run_tap(config(server), select={"wistia_events"})
    keys = emitted_keys(out)
    assert len(keys) == 40
    assert set(keys.values()) == {1}
    assert out.tap.viewing_run().report.pages_repeated >= 2  # every day after the first


def test_a_bookmark_in_the_future_is_refused_by_name_and_the_run_reads_the_recent_past(caplog):
    recent = [event(n, END.date()) for n in range(3)]
    for item, minutes in zip(recent, (1, 20, 50), strict=True):
        item["received_at"] = (END - dt.timedelta(minutes=minutes)).isoformat()

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        today = request.query["start_date"] == END.date().isoformat()
        return Script.json(recent if today and request.query["page"] == "1" else [])

    future = "2031-01-01T00:00:00.000000Z"
    state = {
        "bookmarks": {
            "wistia_events": {"replication_key": "received_at", "replication_key_value": future}
        }
    }
    with HostileServer(answer) as server, caplog.at_level("WARNING"):
        out = run_tap(config(server), state, select={"wistia_events"})
    assert future in caplog.text
    assert "after this run's start" in caplog.text
    assert len(out.of("wistia_events")) == 3  # the lookback behind now
    bookmark = out.state["bookmarks"]["wistia_events"]["replication_key_value"]
    assert bookmark < future


def test_a_start_before_wistias_two_years_is_clamped_not_walked_day_by_day(caplog):
    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        return Script.json([])

    state = {
        "bookmarks": {
            "wistia_activity": {
                "carry": {
                    "version": 1,
                    "watermark": "1999-06-01T00:00:00.000000Z",
                    "reread_from": "1999-05-31T00:00:00.000000Z",
                    "emitted": {},
                }
            }
        }
    }
    with HostileServer(answer) as server, caplog.at_level("WARNING"):
        cfg = {**config(server), "start_date": "1999-01-01", "max_requests_per_minute": 100_000}
        run_tap(cfg, state, select={"wistia_activity"})
        requests = len(server.seen("/stats/events.json"))
    assert "1999-" in caplog.text
    assert "two years of events" in caplog.text
    assert requests <= 2 * 366 + 5  # two years of days, not 27
