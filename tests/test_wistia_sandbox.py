"""The Wistia sandbox: a deterministic account, served faithfully over real HTTP, with faults."""

from __future__ import annotations

import collections
import email.utils
import hashlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_wistia.sandbox import (
    SANDBOX_TOKEN,
    Account,
    AccountSpec,
    EventError,
    EventQuery,
    FaultError,
    Faults,
    WistiaSandbox,
)

END = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
SPEC = AccountSpec(seed=7, events=3000, days=5, visitors=150, medias=12, end=END)
SMALL = AccountSpec(seed=3, events=400, days=3, visitors=40, medias=6, end=END)
EVENT_FIELDS = {
    "event_key",
    "received_at",
    "visitor_key",
    "media_id",
    "media_name",
    "media_url",
    "percent_viewed",
    "embed_url",
    "ip",
    "org",
    "country",
    "region",
    "city",
    "lat",
    "lon",
    "email",
    "conversion_type",
    "conversion_data",
    "iframe_heatmap_url",
    "thumbnail",
    "user_agent_details",
}
ROOT = Path(__file__).resolve().parent.parent
STATS_ONLY = "sandbox-stats-only"
MEDIA_ONLY = "sandbox-media-only"


def moment(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["received_at"])


def visitors_of(events: list[dict[str, Any]]) -> set[str]:
    return {event["visitor_key"] for event in events if event["visitor_key"]}


@pytest.fixture(scope="module")
def account() -> Account:
    return Account(SPEC)


@pytest.fixture(scope="module")
def everything(account: Account) -> list[dict[str, Any]]:
    return list(account.all_events())


@pytest.fixture(scope="module")
def shared(account: Account):
    """A read-only sandbox over the module's account, without a rate limit."""
    with WistiaSandbox(account, rate_limit_per_minute=None) as sandbox:
        yield sandbox


@pytest.fixture
def fresh(wistia_sandbox):
    """A sandbox of its own, for tests that change data or faults."""
    return wistia_sandbox(SMALL)


def call(sandbox: WistiaSandbox, path: str, token: str | None = SANDBOX_TOKEN, **params: Any):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=5)


def events(sandbox: WistiaSandbox, **params: Any) -> list[dict[str, Any]]:
    response = call(sandbox, "/stats/events.json", **params)
    assert response.status_code == 200, response.text
    return response.json()


def walk(sandbox: WistiaSandbox, **params: Any) -> list[dict[str, Any]]:
    """Every event a client paging with 100 per page sees."""
    seen: list[dict[str, Any]] = []
    for page in range(1, 1000):
        batch = events(sandbox, per_page=100, page=page, **params)
        seen.extend(batch)
        if len(batch) < 100:
            return seen
    pytest.fail("paging never ended")


def walk_visitors(sandbox: WistiaSandbox) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for page in range(1, 1000):
        batch = call(sandbox, "/stats/visitors.json", per_page=100, page=page).json()
        seen.extend(batch)
        if len(batch) < 100:
            return seen
    pytest.fail("paging never ended")


def admin(sandbox: WistiaSandbox, path: str, payload: Any = None) -> requests.Response:
    url = f"{sandbox.base_url}/_sandbox/{path}"
    if payload is None and path in ("stats", "faults"):
        return requests.get(url, timeout=5)
    return requests.post(url, json=payload, timeout=5)


# ---- the generated account -------------------------------------------------------------------


DIGEST_SCRIPT = """
import hashlib, json, sys
from datetime import datetime, UTC
from tap_wistia.sandbox import Account, AccountSpec
spec = AccountSpec(seed=7, events=3000, days=5, visitors=150, medias=12,
                   end=datetime(2025, 3, 10, 12, tzinfo=UTC), odd_events=True)
account = Account(spec)
digest = hashlib.sha256()
for event in account.all_events():
    digest.update(json.dumps(event, sort_keys=True).encode())
digest.update(json.dumps(account.medias(), sort_keys=True).encode())
print(digest.hexdigest())
"""


@pytest.mark.e2e  # runs a process
def test_same_spec_gives_the_same_bytes_in_another_process():
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    child = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    spec = AccountSpec(
        seed=7, events=3000, days=5, visitors=150, medias=12, end=END, odd_events=True
    )
    here = Account(spec)
    digest = hashlib.sha256()
    for event in here.all_events():
        digest.update(json.dumps(event, sort_keys=True).encode())
    digest.update(json.dumps(here.medias(), sort_keys=True).encode())
    assert child.stdout.strip() == digest.hexdigest()
    other = Account(AccountSpec(seed=8, events=3000, days=5, visitors=150, medias=12, end=END))
    assert next(other.all_events()) != next(Account(SPEC).all_events())


def test_events_are_spread_over_the_days_ending_at_end(account, everything):
    assert len(everything) == SPEC.events == account.count()
    assert len({event["event_key"] for event in everything}) == SPEC.events
    times = [moment(event) for event in everything]
    assert times == sorted(times)
    assert END - timedelta(days=SPEC.days) <= times[0]
    assert times[-1] <= END
    per_day = collections.Counter(time.date() for time in times)
    assert len(per_day) >= SPEC.days
    assert max(per_day.values()) < 2.5 * min(
        count for day, count in per_day.items() if day not in (times[0].date(), END.date())
    )
    hours = collections.Counter(time.hour for time in times)
    assert hours.most_common()[0][1] > 2 * min(hours.values())


def test_events_on_a_day_are_newest_first_and_match_the_day(account, everything):
    day = date(2025, 3, 8)
    listed = account.events_on(day)
    assert listed
    assert [event["event_key"] for event in listed] == [
        event["event_key"] for event in reversed(everything) if moment(event).date() == day
    ]
    assert account.event(listed[3]["event_key"]) == listed[3]
    assert account.event("no-such-key") is None


def test_every_documented_field_with_realistic_variety(account, everything):
    assert all(set(event) == EVENT_FIELDS for event in everything)
    keys = [event["event_key"] for event in everything]
    assert any(re.fullmatch(r"\d{13}e0\.\d{16}", key) for key in keys)
    assert any(
        re.fullmatch(
            r"\d{7}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", key
        )
        for key in keys
    )
    stamps = [event["received_at"] for event in everything]
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", stamp) for stamp in stamps
    )
    assert any(stamp.endswith(".000Z") for stamp in stamps)
    assert any(not stamp.endswith(".000Z") for stamp in stamps)
    older = re.compile(r"[0-9A-F]{40}")
    today = re.compile(r"\d{7}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    forms = collections.Counter(
        "older" if older.fullmatch(key) else "today" if today.fullmatch(key) else key
        for key in visitors_of(everything)
    )
    assert set(forms) == {"older", "today"}
    assert forms["older"] < forms["today"]  # most visitors have a key of today's form
    media_ids = {media["hashed_id"] for media in account.medias()}
    assert {event["media_id"] for event in everything} <= media_ids
    percents = [event["percent_viewed"] for event in everything]
    assert all(isinstance(value, float) and 0 <= value <= 1 for value in percents)
    assert 0.0 in percents
    assert 1.0 in percents
    assert any(len(repr(value)) > 12 for value in percents)
    regions = {event["region"] for event in everything}
    assert any(re.fullmatch(r"[A-Z]{2}", region) for region in regions)
    assert any(len(region) > 3 for region in regions)
    assert {"34", "07"} & regions  # numeric codes, as Wistia's geo lookup gives for some places
    cities = {event["city"] for event in everything}
    assert cities & {"São Paulo", "Zürich", "東京", "서울", "İstanbul", "Kraków"}
    assert all(len(event["country"]) == 2 for event in everything)
    types = collections.Counter(str(event["conversion_type"]) for event in everything)
    assert types.most_common(1)[0][0] == ""
    assert any(isinstance(event["conversion_type"], int) for event in everything)
    assert types["pre-roll"] > 0
    sample = everything[0]
    assert set(sample["thumbnail"]) == {"url", "width", "height", "fileSize", "contentType", "type"}
    assert set(sample["user_agent_details"]) == {"browser", "browser_version", "platform", "mobile"}
    assert isinstance(sample["lat"], float)
    agents = [event["user_agent_details"] for event in everything]
    assert {"Unknown Browser"} <= {agent["browser"] for agent in agents}
    assert {"0"} <= {agent["browser_version"] for agent in agents}
    assert {"iOS (iPhone)", "mac"} <= {agent["platform"] for agent in agents}
    assert all(isinstance(agent["mobile"], bool) for agent in agents)
    assert all(
        re.fullmatch(
            r"https://api\.wistia\.com/v1/stats/events/(?P<key>[^/]+)/iframe\.html"
            r"\?public_token=[0-9a-f]{32}",
            event["iframe_heatmap_url"],
        )
        and event["iframe_heatmap_url"].split("/")[-2] == event["event_key"]
        for event in everything
    )


def test_converted_visitors_carry_their_email_from_then_on(everything):
    by_visitor: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for event in everything:
        by_visitor[event["visitor_key"]].append(event)
    converted = 0
    for timeline in by_visitor.values():
        emails = [event["email"] for event in timeline]
        if not any(emails):
            assert all(event["conversion_data"] == {} for event in timeline)
            continue
        converted += 1
        first = next(index for index, value in enumerate(emails) if value)
        assert all(emails[first:])
        assert len({value.strip().lower() for value in emails[first:]}) == 1
        for event in timeline[first:]:
            data = event["conversion_data"]
            assert set(data) == {"email", "first_name", "last_name", "is_new_lead"}
            assert data["email"] == event["email"]
    assert 0.1 * len(by_visitor) < converted < 0.5 * len(by_visitor)
    typed = [event["email"] for event in everything if event["email"]]
    assert any(value != value.strip() for value in typed)
    assert any(value != value.lower() for value in typed)


def test_visitors_come_back_in_bursts_some_across_midnight(everything):
    by_pair: dict[tuple[str, str], list[datetime]] = collections.defaultdict(list)
    for event in everything:
        by_pair[event["visitor_key"], event["media_id"]].append(moment(event))
    gaps: list[float] = []
    midnight_bursts = 0
    for times in by_pair.values():
        for earlier, later in itertools.pairwise(times):
            gaps.append((later - earlier).total_seconds())
            if (later - earlier) <= timedelta(minutes=20) and earlier.date() != later.date():
                midnight_bursts += 1
    assert sum(60 <= gap <= 1200 for gap in gaps) > len(gaps) / 3
    assert sum(gap > 3 * 3600 for gap in gaps) > len(gaps) / 10
    assert midnight_bursts > 0


def test_visitors_keep_their_city_mostly(everything):
    cities: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for event in everything:
        cities[event["visitor_key"]][event["city"]] += 1
    regulars = [counts for counts in cities.values() if counts.total() >= 10]
    assert regulars
    shares = [counts.most_common(1)[0][1] / counts.total() for counts in regulars]
    assert sum(shares) / len(shares) > 0.75


def test_medias_look_like_wistia_medias(account):
    medias = account.medias()
    assert len(medias) == SPEC.medias
    assert all(re.fullmatch(r"[a-z0-9]{10}", media["hashed_id"]) for media in medias)
    assert all(isinstance(media["id"], int) for media in medias)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", media["created"]) for media in medias
    )
    kinds = collections.Counter(media["type"] for media in medias)
    assert kinds == {
        "Video": SPEC.medias - 4,
        "Audio": 1,
        "Image": 1,
        "PdfDocument": 1,
        "MicrosoftOfficeDocument": 1,
    }
    by_type = {media["type"]: media for media in medias}
    assert "duration" not in by_type["Image"]  # "Omitted for other types of media"
    for document in ("PdfDocument", "MicrosoftOfficeDocument"):  # "number of pages"
        pages = by_type[document]["duration"]
        assert isinstance(pages, int)
        assert 4 <= pages <= 40
    players = [media for media in medias if media["type"] in ("Video", "Audio")]
    assert all(
        isinstance(media["duration"], float) and 30 <= media["duration"] <= 3600
        for media in players
    )
    assert any(not media["name"].isascii() for media in medias)
    assert all(set(media["project"]) == {"id", "name", "hashedId"} for media in medias)
    assert all(all(set(tag) == {"name"} for tag in media["tags"]) for media in medias)
    assert any(media["tags"] for media in medias)


def test_odd_events_appear_when_asked_for():
    odd = list(
        Account(AccountSpec(seed=2, events=3000, days=3, end=END, odd_events=True)).all_events()
    )
    media_ids = {media["hashed_id"] for media in Account(AccountSpec(seed=2, end=END)).medias()}
    percents = [event["percent_viewed"] for event in odd]
    assert any(event["visitor_key"] is None for event in odd)
    assert any(event["media_id"] not in media_ids for event in odd)
    assert None in percents
    assert "abc" in percents
    assert 1.7 in percents
    assert any(isinstance(value, float) and value < 0 for value in percents)
    assert sum(event["visitor_key"] is None for event in odd) < len(odd) / 50


def test_spec_errors_say_what_to_fix():
    with pytest.raises(ValueError, match="days must be at least 1"):
        AccountSpec(days=0)
    with pytest.raises(ValueError, match="conversion_rate"):
        AccountSpec(conversion_rate=2)
    assert AccountSpec().end_at.microsecond == 0


def test_live_changes_through_python():
    account = Account(SMALL)
    newest = next(iter(account.events_on(END.date())))
    updated = account.update_event(newest["event_key"], percent_viewed=0.875)
    assert updated["percent_viewed"] == 0.875
    assert account.event(newest["event_key"]) == updated
    moved = account.update_event(newest["event_key"], received_at="2025-03-09T01:02:03.000Z")
    assert account.event(newest["event_key"]) == moved
    assert newest["event_key"] in {
        event["event_key"] for event in account.events_on(date(2025, 3, 9))
    }
    assert newest["event_key"] not in {
        event["event_key"] for event in account.events_on(END.date())
    }
    assert account.count() == SMALL.events
    extra = account.new_event(
        END + timedelta(minutes=5, milliseconds=250), media_id=account.medias()[0]["hashed_id"]
    )
    assert extra["received_at"] == "2025-03-10T12:05:00.250Z"
    account.add_events([extra])
    assert account.events_on(END.date())[0]["event_key"] == extra["event_key"]
    assert account.count() == SMALL.events + 1
    with pytest.raises(EventError, match="already exists"):
        account.add_events([extra])
    late = account.update_event(extra["event_key"], percent_viewed=0.5)
    assert account.events_on(END.date())[0] == late
    with pytest.raises(EventError, match="received_at"):
        account.add_events([{"event_key": "x", "received_at": "yesterday"}])
    with pytest.raises(KeyError):
        account.update_event("1700000000000e0.1234567890123456", percent_viewed=1.0)
    with pytest.raises(EventError, match="media_id"):
        account.new_event(END, media_id="nosuchmedia")


def test_a_cached_page_costs_microseconds(account):
    account.page(EventQuery(), 5, 100)
    started = time.process_time()
    for _ in range(200):
        rows = account.page(EventQuery(), 5, 100)
    per_page = (time.process_time() - started) / 200
    assert len(rows) == 100
    assert per_page < 0.001


# ---- the events endpoint ---------------------------------------------------------------------


def test_per_page_defaults_to_10_and_is_capped_at_100(shared):
    assert len(events(shared)) == 10
    assert len(events(shared, per_page=37)) == 37
    assert len(events(shared, per_page=1000)) == 100


def test_pages_are_newest_first_and_end_with_an_empty_page(shared, everything):
    seen = walk(shared)
    assert [event["event_key"] for event in seen] == [
        event["event_key"] for event in reversed(everything)
    ]
    last_page = -(-SPEC.events // 100)
    assert events(shared, per_page=100, page=last_page + 1) == []
    assert events(shared, per_page=100, page=10**9) == []


def test_the_events_order_fault_pages_oldest_first_with_every_filter(fresh):
    newest_first = walk(fresh)
    day = walk(fresh, start_date="2025-03-09", end_date="2025-03-09")
    media = newest_first[0]["media_id"]
    one_media = walk(fresh, media_id=media)
    fresh.set_faults(events_order="oldest_first")
    assert walk(fresh) == list(reversed(newest_first))
    assert walk(fresh, start_date="2025-03-09", end_date="2025-03-09") == list(reversed(day))
    assert walk(fresh, media_id=media) == list(reversed(one_media))
    assert events(fresh, per_page=100, page=-(-len(newest_first) // 100) + 1) == []
    with pytest.raises(FaultError, match="events_order must be one of"):
        Faults(events_order="random").check()


def test_the_shuffled_order_pages_each_day_in_one_stable_order(fresh, account):
    newest_first = walk(fresh)
    day = walk(fresh, start_date="2025-03-09", end_date="2025-03-09")
    fresh.set_faults(events_order="shuffled")
    shuffled = walk(fresh)
    assert walk(fresh) == shuffled  # stable: a client paging twice sees one order
    assert sorted(json.dumps(event) for event in shuffled) == sorted(
        json.dumps(event) for event in newest_first
    )
    shuffled_day = walk(fresh, start_date="2025-03-09", end_date="2025-03-09")
    assert {event["event_key"] for event in shuffled_day} == {event["event_key"] for event in day}
    assert shuffled_day != day
    assert shuffled_day != list(reversed(day))
    moments = [moment(event) for event in shuffled_day]
    assert moments != sorted(moments)
    assert moments != sorted(moments, reverse=True)


def test_an_exclusive_end_date_lists_nothing_for_one_day_and_the_day_before_the_end(fresh):
    one_day = walk(fresh, start_date="2025-03-09", end_date="2025-03-09")
    assert one_day
    fresh.set_faults(end_date_reading="exclusive")
    assert walk(fresh, start_date="2025-03-09", end_date="2025-03-09") == []
    assert walk(fresh, start_date="2025-03-09", end_date="2025-03-10") == one_day
    with pytest.raises(FaultError, match="end_date_reading must be one of"):
        Faults(end_date_reading="both").check()


def test_deleting_while_a_day_past_is_paged_moves_its_later_pages_up(fresh):
    query = {"start_date": "2025-03-08", "end_date": "2025-03-08", "per_page": 100}
    day = walk(fresh, start_date="2025-03-08", end_date="2025-03-08")
    assert len(day) > 102
    fresh.set_faults(delete_while_paging=1)
    first = events(fresh, **query)
    second = events(fresh, **query, page=2)
    assert first == day[:100]
    assert second[0] == day[101]  # day[100] moved onto the first page, already read
    assert call(fresh, f"/stats/events/{day[0]['event_key']}.json").status_code == 404


def test_adding_while_a_day_past_is_paged_moves_its_later_pages_down(fresh):
    query = {"start_date": "2025-03-08", "end_date": "2025-03-08", "per_page": 100}
    day = walk(fresh, start_date="2025-03-08", end_date="2025-03-08")
    fresh.set_faults(insert_while_paging=2)
    first = events(fresh, **query)
    second = events(fresh, **query, page=2)
    assert first == day[:100]
    assert second[:2] == day[98:100]  # served again on the next page
    late = walk(fresh, start_date="2025-03-08", end_date="2025-03-08")[:2]
    assert all(moment(event).date() == date(2025, 3, 8) for event in late)
    assert all(moment(event) > moment(day[0]) for event in late)


def test_a_day_that_never_ends_serves_full_pages_of_new_events(fresh):
    newest = fresh.account.last_day.isoformat()
    real = walk(fresh, start_date=newest, end_date=newest)
    fresh.set_faults(endless_day=True)
    pages = [
        events(fresh, start_date=newest, end_date=newest, per_page=100, page=page)
        for page in range(1, len(real) // 100 + 6)
    ]
    served = [event for page in pages for event in page]
    assert all(len(page) == 100 for page in pages)
    assert served[: len(real)] == real
    assert len({event["event_key"] for event in served}) == len(served)
    assert all(moment(event).date().isoformat() == newest for event in served)
    again = events(fresh, start_date=newest, end_date=newest, per_page=100, page=len(pages))
    assert again == pages[-1]  # the same position gives the same event


def test_medias_list_active_or_archived_ones_and_both_readings_of_neither(fresh):
    medias = fresh.account.medias()
    archived = {media["hashed_id"] for media in medias if media["archived"]}
    active = {media["hashed_id"] for media in medias} - archived
    assert archived

    def listed(**params: Any) -> set[str]:
        return {media["hashed_id"] for media in call(fresh, "/medias.json", **params).json()}

    assert listed(archived="true") == archived
    assert listed(archived="false") == active
    assert listed() == active  # the strict reading, by default
    fresh.set_faults(archived_listing="all")
    assert listed() == active | archived
    assert call(fresh, "/medias.json", archived="maybe").status_code == 422
    current = requests.get(
        f"{fresh.current_url}/medias",
        params={"archived": "true", "cursor[enabled]": "1"},
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}", "X-Wistia-Api-Version": "2026-03"},
        timeout=5,
    )
    assert {media["hashed_id"] for media in current.json()} == archived


def test_day_filters_are_inclusive_utc_days(shared, everything):
    seen = walk(shared, start_date="2025-03-07", end_date="2025-03-08")
    expected = [
        event
        for event in reversed(everything)
        if date(2025, 3, 7) <= moment(event).date() <= date(2025, 3, 8)
    ]
    assert [event["event_key"] for event in seen] == [event["event_key"] for event in expected]
    one_day = walk(shared, start_date="2025-03-10", end_date="2025-03-10")
    assert one_day
    assert {moment(event).date() for event in one_day} == {date(2025, 3, 10)}
    assert walk(shared, start_date="2025-03-11") == []
    assert len(walk(shared, end_date="2025-03-05")) == sum(
        moment(event).date() <= date(2025, 3, 5) for event in everything
    )


def test_day_filters_follow_the_account_time_zone():
    spec = AccountSpec(seed=4, events=600, days=3, visitors=50, end=END, tz_offset_hours=5)
    account = Account(spec)
    everything = list(account.all_events())
    with WistiaSandbox(account, rate_limit_per_minute=None) as sandbox:
        seen = walk(sandbox, start_date="2025-03-09", end_date="2025-03-09")
    local_day = [
        event
        for event in everything
        if (moment(event) + timedelta(hours=5)).date() == date(2025, 3, 9)
    ]
    assert {event["event_key"] for event in seen} == {event["event_key"] for event in local_day}
    utc_day = {
        event["event_key"] for event in everything if moment(event).date() == date(2025, 3, 9)
    }
    assert utc_day != {event["event_key"] for event in seen}


def test_media_and_visitor_filters(shared, everything):
    media_id = everything[0]["media_id"]
    visitor_key = everything[-1]["visitor_key"]
    by_media = walk(shared, media_id=media_id)
    assert [event["event_key"] for event in by_media] == [
        event["event_key"] for event in reversed(everything) if event["media_id"] == media_id
    ]
    by_visitor = walk(shared, visitor_key=visitor_key, start_date="2025-03-06")
    assert by_visitor
    assert all(event["visitor_key"] == visitor_key for event in by_visitor)
    assert walk(shared, visitor_key="0" * 40) == []


def test_one_event_by_key_or_a_bodiless_404(shared, everything):
    wanted = everything[1234]
    response = call(shared, f"/stats/events/{wanted['event_key']}.json")
    assert response.status_code == 200
    assert response.json() == wanted
    missing = call(shared, "/stats/events/1741600000000e0.1111111111111111.json")
    assert missing.status_code == 404
    assert missing.content == b""


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "x"}, "page"),
        ({"page": "-1"}, "page"),
        ({"per_page": "ten"}, "per_page"),
        ({"start_date": "2025-3-1"}, "start_date"),
        ({"end_date": "2025-02-30"}, "end_date"),
        ({"start_date": "2025-03-09", "end_date": "2025-03-01"}, "start_date"),
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(shared, params, named):
    response = call(shared, "/stats/events.json", **params)
    assert response.status_code == 422
    assert named in response.json()["error"]


def test_unknown_paths_get_404(shared):
    response = call(shared, "/stats/nothing.json")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


# ---- auth ------------------------------------------------------------------------------------


def test_credentials_only_as_a_bearer_token(shared):
    invalid = {"code": "unauthorized_credentials", "error": "Invalid credentials."}
    for token in (None, "not-a-token"):
        response = call(shared, "/stats/events.json", token=token)
        assert response.status_code == 401
        assert response.json() == invalid
    by_password = call(shared, "/stats/events.json", token=None, api_password=SANDBOX_TOKEN)
    assert by_password.status_code == 401
    basic = requests.get(f"{shared.url}/medias.json", auth=("api", SANDBOX_TOKEN), timeout=5)
    assert basic.status_code == 401


def test_a_token_without_the_permission_gets_unauthorized_scope(shared):
    for token, path in (
        (STATS_ONLY, "/medias.json"),
        (MEDIA_ONLY, "/stats/events.json"),
    ):
        response = call(shared, path, token=token)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized_scope"
    assert call(shared, "/stats/events.json", token=STATS_ONLY).status_code == 200
    assert call(shared, "/medias.json", token=MEDIA_ONLY).status_code == 200


def test_a_plan_without_the_feature_answers_403_and_a_missing_permission_401(fresh):
    fresh.set_faults(plan_lacks=["stats"])
    response = call(fresh, "/stats/visitors.json")
    assert response.status_code == 403
    assert response.json() == {"error": "Stats are not available on your current plan"}
    assert call(fresh, "/stats/visitors.json", token=MEDIA_ONLY).status_code == 401
    assert call(fresh, "/medias.json").status_code == 200
    with pytest.raises(FaultError, match="plan_lacks takes"):
        Faults(plan_lacks=["webinars"]).check()


# ---- rate limit ------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_seconds():
    with WistiaSandbox(Account(SMALL), rate_limit_per_minute=5) as sandbox:
        statuses = [call(sandbox, "/medias.json").status_code for _ in range(5)]
        limited = call(sandbox, "/stats/events.json", token=STATS_ONLY)
        stats = sandbox.stats()
    assert statuses == [200] * 5
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["Content-Type"].startswith("text/plain")  # Wistia's spec: text/plain
    assert limited.text == "Rate limit exceeded"
    assert stats["rate_limited"] == 1
    assert len(stats["rate_limited_at"]) == 1
    assert stats["by_status"] == {"200": 5, "429": 1}


def test_rate_limit_as_503_with_an_http_date():
    with WistiaSandbox(
        Account(SMALL),
        rate_limit_per_minute=1,
        rate_limit_status=503,
        retry_after_style="http-date",
    ) as sandbox:
        call(sandbox, "/medias.json")
        limited = call(sandbox, "/medias.json")
    assert limited.status_code == 503
    retry_at = email.utils.parsedate_to_datetime(limited.headers["Retry-After"])
    assert 0 < (retry_at - datetime.now(UTC)).total_seconds() <= 61


def test_refused_requests_do_not_use_up_the_budget():
    with WistiaSandbox(
        Account(SMALL), rate_limit_per_minute=3, rate_limit_window_seconds=0.6
    ) as sandbox:
        first = [call(sandbox, "/medias.json").status_code for _ in range(3)]
        refused = [call(sandbox, "/medias.json").status_code for _ in range(5)]
        time.sleep(0.65)
        again = [call(sandbox, "/medias.json").status_code for _ in range(4)]
    assert first == [200] * 3
    assert refused == [429] * 5
    assert again == [200, 200, 200, 429]


# ---- faults ----------------------------------------------------------------------------------


def test_latency_applies_to_concurrent_requests_in_parallel(fresh):
    fresh.set_faults(latency_ms=300)
    durations: list[float] = []

    def one() -> None:
        started = time.perf_counter()
        assert call(fresh, "/medias.json").status_code == 200
        durations.append(time.perf_counter() - started)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(durations) == 8
    assert min(durations) >= 0.3  # every request waited...
    assert fresh.stats()["max_in_flight"] >= 4  # ...while others were answered


def test_fail_next_answers_the_statuses_in_order(fresh):
    fresh.set_faults(fail_next=[429, 500, 503, 502, 504])
    assert call(fresh, "/medias.json").status_code == 200
    answers = [call(fresh, "/stats/events.json") for _ in range(6)]
    assert [answer.status_code for answer in answers] == [429, 500, 503, 502, 504, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert answers[2].headers["Retry-After"] == "1"
    assert "Retry-After" not in answers[1].headers
    assert answers[1].json() == {"error": "Internal server error"}
    assert fresh.stats()["rate_limited"] == 0


def test_one_shot_faults_are_counted_exactly_under_concurrency(fresh):
    fresh.set_faults(fail_next=[500] * 5, fail_paths=["/v1/"])
    statuses: list[int] = []

    def one() -> None:
        statuses.append(call(fresh, "/medias.json").status_code)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 15 + [500] * 5
    assert fresh.faults.fail_next == []


def test_a_sandbox_bug_answers_500_and_keeps_serving(fresh, monkeypatch):
    def broken(*args: Any) -> list[Any]:
        message = "a bug in the sandbox"
        raise RuntimeError(message)

    monkeypatch.setattr(fresh.account, "page", broken)
    response = call(fresh, "/stats/events.json")
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error"}
    assert call(fresh, "/medias.json").status_code == 200


def test_fail_paths_widen_the_faults_to_any_endpoint(fresh):
    fresh.set_faults(fail_next=[500], fail_paths=["/v1/"])
    assert call(fresh, "/medias.json").status_code == 500
    assert call(fresh, "/medias.json").status_code == 200


def test_timeout_next_hangs_until_the_client_gives_up(fresh):
    fresh.set_faults(timeout_next=1, timeout_seconds=3)
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{fresh.url}/stats/events.json",
            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
            timeout=0.3,
        )
    assert len(events(fresh)) == 10


def test_reset_next_drops_the_connection(fresh):
    fresh.set_faults(reset_next=1)
    with pytest.raises(requests.ConnectionError):
        events(fresh)
    assert len(events(fresh)) == 10
    assert fresh.stats()["by_status"]["reset"] == 1


def test_truncate_next_sends_half_a_body(fresh):
    fresh.set_faults(truncate_next=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        events(fresh, per_page=100)
    assert len(events(fresh, per_page=100)) == 100


def test_bad_json_next_sends_an_unparseable_200(fresh):
    fresh.set_faults(bad_json_next=1)
    response = call(fresh, "/stats/events.json")
    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert len(events(fresh)) == 10


def test_page_drift_shifts_page_boundaries(fresh):
    fresh.set_faults(page_drift=3)
    first = events(fresh)
    second = events(fresh, page=2)
    assert first[-1]["event_key"] in {event["event_key"] for event in second}
    assert second[0]["event_key"] == first[7]["event_key"]
    newest = events(fresh, per_page=6)
    assert moment(newest[0]) > moment(first[0])
    assert len({event["event_key"] for event in newest}) == 6


def test_deleted_medias_vanish_but_keep_their_events(fresh):
    medias = fresh.account.medias()
    gone = medias[0]["hashed_id"]
    fresh.set_faults(deleted_medias=[gone], archived_listing="all")
    listed = call(fresh, "/medias.json", per_page=100).json()
    assert gone not in {media["hashed_id"] for media in listed}
    assert len(listed) == len(medias) - 1
    missing = call(fresh, f"/medias/{gone}.json")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Media not found."}
    assert walk(fresh, media_id=gone)
    kept = call(fresh, f"/medias/{medias[1]['hashed_id']}.json")
    assert kept.json() == medias[1]


def test_late_updates_show_on_the_second_read(fresh):
    target = events(fresh)[4]
    fresh.set_faults(late_updates={target["event_key"]: 0.99})
    path = f"/stats/events/{target['event_key']}.json"
    assert call(fresh, path).json()["percent_viewed"] == target["percent_viewed"]
    assert call(fresh, path).json()["percent_viewed"] == 0.99
    assert events(fresh)[4]["percent_viewed"] == 0.99


def test_fault_settings_are_checked():
    with pytest.raises(FaultError, match="fail_next"):
        Faults.from_mapping({"fail_next": [418]})
    with pytest.raises(FaultError, match="unknown"):
        Faults.from_mapping({"explode": True})


# ---- the other endpoints ---------------------------------------------------------------------


def test_medias_page_and_sort(shared, account):
    names = [
        media["name"]
        for media in call(
            shared, "/medias.json", per_page=100, sort_by="name", sort_direction=0
        ).json()
    ]
    active = [media for media in account.medias() if not media["archived"]]
    assert names == sorted((media["name"] for media in active), reverse=True)
    assert len(call(shared, "/medias.json").json()) == 10
    assert len(call(shared, "/medias.json", page=2).json()) == len(active) - 10
    assert call(shared, "/medias.json", sort_by="size").status_code == 422


def test_visitors_list_filter_and_lookup(shared, everything):
    listed = call(shared, "/stats/visitors.json", per_page=100).json()
    assert len(listed) == 100
    assert listed == sorted(listed, key=lambda visitor: visitor["last_active_at"], reverse=True)
    first = listed[0]
    assert set(first) == {
        "visitor_key", "created_at", "last_active_at", "last_event_key", "identifying_event_key",
        "load_count", "play_count", "visitor_identity", "user_agent_details",
    }  # fmt: skip
    own = [event for event in everything if event["visitor_key"] == first["visitor_key"]]
    assert first["load_count"] == len(own)
    assert first["play_count"] == sum(event["percent_viewed"] > 0 for event in own)
    assert first["last_event_key"] == own[-1]["event_key"]
    every = walk_visitors(shared)
    assert {visitor["visitor_key"] for visitor in every} == visitors_of(everything)
    for visitor in every:
        own = [event for event in everything if event["visitor_key"] == visitor["visitor_key"]]
        identified = [event for event in own if event["email"]]
        if identified:  # the first event with an email identified them
            assert visitor["identifying_event_key"] == identified[0]["event_key"]
            assert visitor["visitor_identity"]["email"] == identified[-1]["email"].strip()
        else:
            assert visitor["identifying_event_key"] is None
            assert visitor["visitor_identity"]["email"] is None
    assert any(visitor["identifying_event_key"] for visitor in every)
    emailed = call(shared, "/stats/visitors.json", per_page=100, filter="has_email").json()
    assert emailed
    assert all(visitor["visitor_identity"]["email"] for visitor in emailed)
    one = call(shared, f"/stats/visitors/{first['visitor_key']}.json")
    assert one.json() == first
    assert call(shared, f"/stats/visitors/{'0' * 40}.json").status_code == 404


# ---- admin API -------------------------------------------------------------------------------


def test_admin_stats_and_reset(fresh):
    events(fresh)
    call(fresh, "/medias.json", token=None)
    stats = admin(fresh, "stats").json()
    assert stats["requests"] == 2
    assert stats["by_path"] == {"/v1/stats/events.json": 1, "/v1/medias.json": 1}
    assert stats["by_status"] == {"200": 1, "401": 1}
    assert stats["events_served"] == 10
    assert stats["first_request_at"] <= time.time()
    assert admin(fresh, "reset-stats").status_code == 200
    assert admin(fresh, "stats").json()["requests"] == 0
    assert requests.get(f"{fresh.url}/_sandbox/stats", timeout=5).json()["requests"] == 0


def test_admin_faults_replace_the_settings(fresh):
    assert admin(fresh, "faults", {"fail_next": [503]}).status_code == 200
    assert admin(fresh, "faults").json()["fail_next"] == [503]
    assert call(fresh, "/stats/events.json").status_code == 503
    assert admin(fresh, "faults", {"latency_ms": 0}).json()["fail_next"] == []
    refused = admin(fresh, "faults", {"fail_next": "soon"})
    assert refused.status_code == 400
    assert "fail_next" in refused.json()["error"]


def test_admin_adds_generates_and_updates_events(fresh):
    extra = fresh.account.new_event(END + timedelta(hours=1))
    extra["event_key"] = "1741611600000e0.5000000000000000"
    assert admin(fresh, "events", [extra]).status_code == 200
    assert events(fresh)[0] == extra
    generated = admin(fresh, "events", {"generate": 3, "at": "2025-03-10T13:30:00Z"}).json()[
        "added"
    ]
    assert len(generated) == 3
    assert {event["received_at"] for event in generated} == {"2025-03-10T13:30:00.000Z"}
    assert {event["event_key"] for event in events(fresh)[:3]} == {
        event["event_key"] for event in generated
    }
    updated = admin(fresh, f"events/{extra['event_key']}", {"percent_viewed": 0.5})
    assert updated.json()["percent_viewed"] == 0.5
    assert call(fresh, f"/stats/events/{extra['event_key']}.json").json()["percent_viewed"] == 0.5
    assert admin(fresh, "events/unknown-key", {"percent_viewed": 0.5}).status_code == 404
    assert admin(fresh, "events", [extra]).status_code == 422
    assert admin(fresh, "rate-limit", {"per_minute": 2}).json() == {"per_minute": 2}


# ---- CLI -------------------------------------------------------------------------------------


@pytest.mark.e2e  # runs a process
def test_cli_serves_until_sigterm_and_exits_cleanly(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_wistia.sandbox", "--port", "0", "--events", "300",
         "--days", "2", "--seed", "5", "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert info["pid"] == process.pid
        response = requests.get(
            f"{info['url']}/stats/events.json",
            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
            timeout=5,
        )
        assert response.status_code == 200
        assert len(response.json()) == 10
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert info["url"] in out
    assert SANDBOX_TOKEN in out
