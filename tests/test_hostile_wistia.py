"""tap-wistia against servers that misbehave on purpose: repeated pages, edited state,
answers that never end or never stop growing, a token echoed back, look-alike local hosts."""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from api_http import client as api_client
from tap_wistia.seen import MAX_REPEATED_PAGES, RepeatedPageError
from tap_wistia.tap import TapWistia
from tests.clock import END
from tests.harness import run_tap, run_tap_process
from tests.hostile import HUGE_ANSWERS, HostileServer, Script, Seen

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

TOKEN = "hostile-wistia-token"
DAY = (END - dt.timedelta(days=1)).date()


pytestmark = pytest.mark.usefixtures("pinned_clock")


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


def test_every_event_is_emitted_whatever_its_key_and_the_odd_keys_are_counted(caplog):
    served = [event(n) for n in range(6)]
    del served[0]["event_key"]
    served[1]["event_key"] = None
    served[2]["event_key"] = ""
    served[3]["event_key"] = 123
    served[4]["event_key"] = "123"
    for n, item in enumerate(served):
        item["visitor_key"] = f"viewer-{n}"

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        on_day = request.query["start_date"] == DAY.isoformat()
        return Script.json(served if on_day and request.query["page"] == "1" else [])

    with HostileServer(answer) as server, caplog.at_level("WARNING"):
        out = run_tap(config(server), select={"wistia_events", "wistia_activity"})
    keys = [record.get("event_key", "(none)") for record in out.of("wistia_events")]
    assert sorted(map(repr, keys)) == sorted(
        map(repr, ["(none)", None, "", 123, "123", served[5]["event_key"]])
    )
    assert {s["session_id"] for s in out.of("wistia_activity")} == {"123", served[5]["event_key"]}
    odd = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Odd events")]
    assert len(odd) == 1
    assert "3 events without event_key (emitted each, not sessionized)" in odd[0]
    assert "1 event with an event_key that is not a string" in odd[0]


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


# -- hostile answers: slow, endless, huge, echoing the token ----------------------------------


def only_events(script: Callable[[], Script]):
    """A server answering every events request with a new `script()` (medias with nothing)."""

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        return script()

    return answer


def failing_run(server: HostileServer, **settings: Any):
    cfg = {**config(server), "max_parallel_requests": 1, "max_retries": 2, **settings}
    return run_tap(cfg, select={"wistia_events"}, expect_error=True)


def trickle(total: int = 2000) -> Iterator[bytes]:
    yield b"["
    for _ in range(total):
        yield b" "


def endless() -> Iterator[bytes]:
    while True:
        yield b" " * 10


@pytest.mark.parametrize(
    ("body", "chunked"), [(trickle, False), (endless, True)], ids=["trickle", "endless-chunked"]
)
def test_a_body_that_never_ends_is_abandoned_at_the_request_deadline(body, chunked):
    def script() -> Script:
        return Script(200, body(), {"Content-Type": "application/json"}, pause=0.3, chunked=chunked)

    started = time.monotonic()
    with HostileServer(only_events(script)) as server:
        out = failing_run(server, request_timeout_seconds=1)
    assert "no whole answer within 1 s (request_timeout_seconds)" in str(out.error)
    # Two tries of one second each, and backoff between them: nowhere near the 150 s seen.
    assert time.monotonic() - started < 20


@HUGE_ANSWERS
def test_a_huge_answer_is_refused_by_its_size_not_read_into_memory(script):
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_000_000  # KB, before
    with HostileServer(only_events(script)) as server:
        out = failing_run(server)
    message = str(out.error)
    assert "was refused" in message
    assert "67,108,864 bytes (decoded)" in message
    assert "GET /stats/events.json" in message  # names the request
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_000_000  # under 1 GB after


def test_a_huge_retry_after_waits_the_rate_window_not_hours(monkeypatch, caplog):
    monkeypatch.setattr(api_client, "MAX_WAIT_SECONDS", 1.0)
    answers = iter([Script(429, b"Rate limit exceeded", {"Retry-After": "99999"})])

    def answer(request: Seen) -> Script:
        if request.path.endswith("/medias.json"):
            return Script.json([])
        return next(answers, Script.json([]))

    started = time.monotonic()
    with HostileServer(answer) as server, caplog.at_level("WARNING"):
        run_tap({**config(server), "max_parallel_requests": 1}, select={"wistia_events"})
    assert time.monotonic() - started < 15
    assert "Wistia asked to wait 99,999 s (Retry-After: 99999)" in caplog.text
    assert "waiting 1 s instead" in caplog.text


@pytest.mark.e2e  # runs a process
def test_a_token_echoed_by_the_server_is_masked_in_errors_and_logs(tmp_path):
    token = "wistia-echo-5e1f0c77"

    def answer(request: Seen) -> Script:
        echoed = request.headers.get("Authorization", "")
        return Script.json({"error": f"bad token {echoed}", "code": "unauthorized"}, status=401)

    with HostileServer(answer) as server:
        cfg = {**config(server), "api_token": token}
        inside = run_tap(cfg, select={"wistia_events"}, expect_error=True)
        process = run_tap_process(cfg)
    assert token not in str(inside.error)
    assert "[redacted]" in str(inside.error)
    assert process.returncode == 1
    assert token not in process.stderr
    assert "bad token Bearer [redacted]" in process.stderr


@pytest.mark.parametrize(
    "url",
    ["http://127.attacker.example/v1", "http://127.0.0.1.nip.io/v1", "http://localhost.evil/v1"],
)
def test_plain_http_to_a_host_that_only_looks_local_is_refused(url):
    tap = TapWistia(config={"api_token": TOKEN, "api_url": url}, validate_config=False)
    errors = tap._validate_config(raise_errors=False)
    assert any(error.startswith("api_url: plain http is only allowed") for error in errors), errors
