"""The streams beyond viewing over real HTTP, through v1 and the current API: each equals the
sandbox's account, the statistics agree with the sessions, a run reads only the medias that can
have changed, and the viewing streams are the same whatever else is selected."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pytest
import time_machine

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.api import MEDIA, STATS
from tap_wistia.sandbox.library import Library
from tap_wistia.sandbox.server import WistiaSandbox
from tap_wistia.sandbox.statistics import Statistics
from tap_wistia.tap import TapWistia
from tests.clock import END, clock_at, run_moment
from tests.harness import ROOT, TapOutput, run_tap

pytestmark = pytest.mark.usefixtures("pinned_clock")

TOKEN = "sandbox-wistia-token"
VIEWING = {"wistia_activity", "wistia_events"}
STATISTICS = {
    "wistia_media_stats",
    "wistia_media_engagement",
    "wistia_media_daily_stats",
    "wistia_account_daily_stats",
}
LIBRARY = {"wistia_folders", "wistia_tags", "wistia_captions"}
NEW = STATISTICS | LIBRARY
APIS = {"v1": "", "current": "2026-03"}
START = (END - dt.timedelta(days=3)).date()
PER_MEDIA = (
    "stats/medias/{mediaId}",
    "stats/medias/{mediaId}/engagement",
    "stats/medias/{mediaId}/by_date",
)


@pytest.fixture(scope="module")
def shared():
    """A small account read by the tests that do not change it (every answer, both APIs)."""
    spec = AccountSpec(seed=21, events=1200, days=2, visitors=80, medias=9, end=END)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        yield server


def config_for(server: WistiaSandbox, api: str = "v1", **extra: Any) -> dict[str, Any]:
    release = APIS[api]
    url = server.current_url if release else server.url
    return {
        "api_token": TOKEN,
        "api_url": url,
        "api_version": release,
        "start_date": START.isoformat(),
        **extra,
    }


def requests_to(server: WistiaSandbox, api: str, resource: str) -> int:
    """Requests the sandbox answered for one endpoint template (``stats/medias/{mediaId}``)."""
    template = f"/modern/{resource}" if APIS[api] else f"/v1/{resource}.json"
    return server.stats()["by_path"].get(template, 0)


def by_key(records: list[dict[str, Any]], *keys: str) -> dict[Any, dict[str, Any]]:
    """The last record of each key (later records replace earlier ones, as in a warehouse)."""
    return {tuple(record[key] for key in keys): record for record in records}


def media_ids(server: WistiaSandbox) -> list[str]:
    return sorted(media["hashed_id"] for media in server.account.medias())


@pytest.mark.parametrize("api", APIS)
def test_each_new_stream_equals_the_sandboxs_account(shared, api):
    out = run_tap(config_for(shared, api), select=NEW)
    account = shared.account
    statistics, library = Statistics(account), Library(account)
    read_at = out.tap.started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    medias = media_ids(shared)

    stats = by_key(out.of("wistia_media_stats"), "media_id")
    assert sorted(key for (key,) in stats) == medias
    for media_id in medias:
        assert stats[(media_id,)] == {
            "media_id": media_id,
            **statistics.totals(media_id),
            "read_at": read_at,
        }
        assert by_key(out.of("wistia_media_engagement"), "media_id")[(media_id,)] == {
            "media_id": media_id,
            **statistics.curve(media_id),
            "read_at": read_at,
        }

    last = (out.tap.started_at + dt.timedelta(hours=14)).date()
    days = by_key(out.of("wistia_media_daily_stats"), "media_id", "date")
    wanted = {
        (media_id, day["date"]): {"media_id": media_id, **day}
        for media_id in medias
        for day in statistics.days(media_id, START, last, "every_day")
    }
    assert days == wanted
    assert by_key(out.of("wistia_account_daily_stats"), "date") == {
        (day["date"],): day for day in statistics.days(None, START, last, "every_day")
    }

    folders = by_key(out.of("wistia_folders"), "hashed_id")
    assert len(folders) == len(library.folders) > 1
    for folder in library.folders:
        record = folders[(folder["hashed_id"],)]
        assert record["name"] == folder["name"]
        assert record["media_count"] == folder["media_count"]
        assert record["public"] is False
        if APIS[api]:
            served = [
                {key: value for key, value in sub.items() if key != "id"}
                for sub in sorted(library.subfolders[folder["hashed_id"]], key=lambda s: s["id"])
            ]
            assert record["subfolders"] == served  # read by cursor: in id order
        else:
            assert record["subfolders"] is None  # v1 lists no subfolders: unknown, not empty
    assert any(library.subfolders.values())

    assert by_key(out.of("wistia_tags"), "name") == {
        (tag["name"],): {
            "name": tag["name"],
            "taggings_count": tag["taggingsCount"],
            "created": tag["created"],
            "updated": tag["updated"],
        }
        for tag in library.tags
    }
    captions = by_key(out.of("wistia_captions"), "media_id", "language")
    assert captions == {
        (media_id, track["language"]): {"media_id": media_id, **track}
        for media_id, tracks in library.captions.items()
        for track in tracks
    }
    assert len(captions) > 3


@pytest.mark.parametrize("api", APIS)
def test_the_statistics_agree_with_the_viewing_sessions(shared, api):
    config = config_for(shared, api, start_date=(END - dt.timedelta(days=4)).date().isoformat())
    out = run_tap(config, select={"wistia_activity", *STATISTICS})
    sessions = by_key(out.of("wistia_activity"), "session_id")
    seconds: dict[str, float] = defaultdict(float)
    loads: dict[str, int] = defaultdict(int)
    for session in sessions.values():
        seconds[session["media_id"]] += session["duration_viewed"] or 0.0
        loads[session["media_id"]] += session["event_count"]
    stats = by_key(out.of("wistia_media_stats"), "media_id")
    daily: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for day in out.of("wistia_media_daily_stats"):
        daily[day["media_id"]].append(day)
    watched = 0
    for (media_id,), record in stats.items():
        assert record["load_count"] == loads[media_id]
        assert record["hours_watched"] == pytest.approx(seconds[media_id] / 3600, abs=1e-9)
        watched += record["hours_watched"] > 0
        days = daily[media_id]
        assert sum(day["load_count"] for day in days) == record["load_count"]
        assert sum(day["play_count"] for day in days) == record["play_count"]
        assert sum(day["hours_watched"] for day in days) == pytest.approx(record["hours_watched"])
    assert watched >= 5
    account_days = out.of("wistia_account_daily_stats")
    assert sum(day["load_count"] for day in account_days) == sum(loads.values())


@pytest.mark.parametrize("api", APIS)
def test_the_viewing_streams_are_the_same_with_or_without_the_new_streams(shared, api):
    config = config_for(shared, api, start_date=(END - dt.timedelta(days=2)).date().isoformat())
    with time_machine.travel(run_moment(END), tick=False):  # one "now" for both runs
        alone = run_tap(config, select=VIEWING)
        together = run_tap(config, select=VIEWING | NEW)
    assert len(together.of("wistia_media_stats")) == len(media_ids(shared))
    for stream in VIEWING:
        assert together.of(stream) == alone.of(stream)
        assert len(alone.of(stream)) > 100
        assert viewing_bookmarks(together, stream) == viewing_bookmarks(alone, stream)
    # and the next run continues alike from either state
    shared.account.generate(20, END + dt.timedelta(minutes=30))
    with time_machine.travel(run_moment(END) + dt.timedelta(hours=1), tick=False):
        later_alone = run_tap(config, alone.state, select=VIEWING)
        later_together = run_tap(config, together.state, select=VIEWING | NEW)
    for stream in VIEWING:
        assert later_together.of(stream) == later_alone.of(stream)
        assert viewing_bookmarks(later_together, stream) == viewing_bookmarks(later_alone, stream)


SDK_MARKERS = {"replication_key_signpost", "starting_replication_value", "progress_markers"}
"""What the SDK keeps in a stream's state while the stream syncs, and drops when it ends: the
viewing run writes its STATEs before that stream's own sync when another stream drives it."""


def viewing_bookmarks(out: TapOutput, stream: str) -> list[Any]:
    """Each distinct bookmark of a viewing stream, in the order the STATE messages gave them."""
    seen: list[Any] = []
    for state in out.states:
        found = state.get("bookmarks", {}).get(stream) or {}
        bookmark = {key: value for key, value in found.items() if key not in SDK_MARKERS}
        if bookmark and (not seen or seen[-1] != bookmark):
            seen.append(bookmark)
    return seen


def test_the_new_streams_are_off_by_default_and_cost_nothing_then(shared):
    catalog = TapWistia(config=config_for(shared), validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] in NEW:
            [top] = [item for item in entry["metadata"] if item["breadcrumb"] == []]
            assert top["metadata"]["selected-by-default"] is False
    shared.reset_stats()
    run_tap(config_for(shared))
    paths = set(shared.stats()["by_path"])
    assert paths == {"/v1/stats/events.json", "/v1/medias.json"}


@pytest.fixture
def thousand_medias(wistia_sandbox, pinned_clock):
    """1,000 medias, events on a few of them ending three hours before the runs."""
    spec = AccountSpec(
        seed=22, events=150, days=1, visitors=40, medias=1000, end=END - dt.timedelta(hours=3)
    )
    return wistia_sandbox(spec)


@pytest.mark.parametrize("api", APIS)
def test_an_hourly_run_reads_statistics_only_for_the_medias_with_new_events(thousand_medias, api):
    server = thousand_medias
    select = {"wistia_activity", "wistia_media_stats", "wistia_media_engagement"}
    select.add("wistia_media_daily_stats")
    config = config_for(server, api, max_requests_per_minute=100_000, max_parallel_requests=16)
    first = run_tap(config, select=select)  # never read whole: every media
    for resource in PER_MEDIA:
        assert requests_to(server, api, resource) == 1000
    assert len(first.of("wistia_media_stats")) == 1000

    watched = media_ids(server)[100:103]
    moment = END + dt.timedelta(minutes=30)
    server.add_events([server.account.new_event(moment, media_id=media) for media in watched])
    server.reset_stats()
    with clock_at(run_moment(END) + dt.timedelta(hours=1)):
        hourly = run_tap(config, first.state, select=select)
    for resource in PER_MEDIA:
        assert requests_to(server, api, resource) == 3, resource
    assert sorted(record["media_id"] for record in hourly.of("wistia_media_stats")) == watched
    assert {record["media_id"] for record in hourly.of("wistia_media_daily_stats")} == set(watched)
    media_stats = hourly.state["bookmarks"]["wistia_media_stats"]
    assert (
        media_stats["last_full_read_at"]
        == first.state["bookmarks"]["wistia_media_stats"]["last_full_read_at"]
    )

    server.reset_stats()
    with clock_at(run_moment(END) + dt.timedelta(hours=24, minutes=1)):
        daily = run_tap(config, hourly.state, select={"wistia_activity", "wistia_media_stats"})
    assert requests_to(server, api, PER_MEDIA[0]) == 1000  # the full read is due again
    assert len(daily.of("wistia_media_stats")) == 1000


def test_a_run_that_reads_no_events_waits_for_the_full_read(thousand_medias):
    server = thousand_medias
    config = config_for(server, stats_refresh_hours=6, max_requests_per_minute=100_000)
    first = run_tap(config, select={"wistia_media_stats"})
    assert len(first.of("wistia_media_stats")) == 1000
    server.reset_stats()
    with clock_at(run_moment(END) + dt.timedelta(hours=5)):
        quiet = run_tap(config, first.state, select={"wistia_media_stats"})
    assert quiet.of("wistia_media_stats") == []
    assert server.stats()["requests"] == 0
    with clock_at(run_moment(END) + dt.timedelta(hours=6, minutes=1)):
        due = run_tap(config, quiet.state, select={"wistia_media_stats"})
    assert len(due.of("wistia_media_stats")) == 1000


@pytest.mark.parametrize("listing", ["every_day", "active_days"])
def test_daily_statistics_resume_from_their_bookmark_and_repeat_open_days(shared, listing):
    shared.set_faults(daily_listing=listing)
    try:
        config = config_for(shared)
        select = {"wistia_activity", "wistia_media_daily_stats", "wistia_account_daily_stats"}
        first = run_tap(config, select=select)
        bookmark = first.state["bookmarks"]["wistia_account_daily_stats"]["replication_key_value"]
        assert bookmark == (run_moment(END) - dt.timedelta(hours=13)).date().isoformat()
        assert first.state["bookmarks"]["wistia_media_daily_stats"]["replication_key_value"] == (
            bookmark
        )
        account_days = [day["date"] for day in first.of("wistia_account_daily_stats")]
        assert min(account_days) < bookmark  # final days were read once, from start_date on

        watched = media_ids(shared)[0]
        later = run_moment(END) + dt.timedelta(hours=1)
        event = shared.account.new_event(END + dt.timedelta(minutes=40), media_id=watched)
        shared.add_events([event])
        with clock_at(later):
            second = run_tap(config, first.state, select=select)
        for stream in ("wistia_media_daily_stats", "wistia_account_daily_stats"):
            dates = {day["date"] for day in second.of(stream)}
            assert dates, stream
            assert min(dates) >= bookmark, stream  # resumed: no final day asked again
        today = END.date().isoformat()
        before = by_key(first.of("wistia_account_daily_stats"), "date")[(today,)]
        after = by_key(second.of("wistia_account_daily_stats"), "date")[(today,)]
        assert after["load_count"] == before["load_count"] + 1  # the open day, emitted again
        assert watched in {day["media_id"] for day in second.of("wistia_media_daily_stats")}
    finally:
        shared.set_faults()
        shared.account.delete_events([event["event_key"]])


def test_a_token_without_read_all_data_stops_at_the_tags_after_the_viewing_bookmarks(shared):
    tokens = {"viewing-only": frozenset({STATS, MEDIA})}  # no "Read all data"
    with WistiaSandbox(shared.account, rate_limit_per_minute=None, tokens=tokens) as server:
        failed = run_tap(
            {**config_for(server), "api_token": "viewing-only"},
            select={"wistia_activity", "wistia_account_daily_stats", "wistia_tags"},
            expect_error=True,
        )
    assert '"Read all data" permission' in str(failed.error)
    assert "GET /tags.json" in str(failed.error)
    assert failed.of("wistia_activity")
    assert failed.of("wistia_account_daily_stats")
    assert failed.state["bookmarks"]["wistia_activity"]["replication_key_value"]


def test_medias_deleted_since_their_events_have_no_statistics(pinned_clock):
    spec = AccountSpec(seed=23, events=3000, days=1, medias=6, odd_events=True, end=END)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        config = config_for(server)
        select = {"wistia_events", "wistia_media_stats"}
        first = run_tap(config, select=select)
        ghosts = set(server.account.deleted_media_ids())
        assert ghosts & {event["media_id"] for event in first.of("wistia_events")}
        with clock_at(run_moment(END) + dt.timedelta(minutes=30)):
            second = run_tap(config, first.state, select=select)
        read = {record["media_id"] for record in second.of("wistia_media_stats")}
        assert read
        assert not read & ghosts
        assert second.state["bookmarks"]["wistia_media_stats"]["changes_read_until"]


def test_activate_version_is_announced_only_by_runs_that_read_the_whole_table(thousand_medias):
    config = config_for(
        thousand_medias, emit_activate_version_messages=True, max_requests_per_minute=100_000
    )
    select = {"wistia_activity", "wistia_media_stats", "wistia_tags"}
    first = run_tap(config, select=select)
    assert activated(first) == {"wistia_media_stats", "wistia_tags"}
    with clock_at(run_moment(END) + dt.timedelta(hours=1)):
        second = run_tap(config, first.state, select=select)
    assert activated(second) == set()


def activated(out: TapOutput) -> set[str]:
    return {m["stream"] for m in out.messages if m["type"] == "ACTIVATE_VERSION"}


def test_about_the_definitions_and_meltano_yml_name_every_stream(shared):
    streams = [stream.name for stream in TapWistia(config=config_for(shared)).discover_streams()]
    assert len(streams) == 11
    description = TapWistia._get_about_info().description or ""
    definition = (ROOT / "plugins" / "extractors" / "tap-wistia--wistia-lytics.yml").read_text()
    project = (ROOT / "meltano.yml").read_text()
    for name in streams:
        assert name in description, name
        assert name in " ".join(definition.split()), name
        assert name in " ".join(project.split()), name
    assert "stats_refresh_hours" in definition
    assert "stats_refresh_hours" in project


def test_days_follow_the_accounts_time_zone(pinned_clock):
    spec = AccountSpec(seed=24, events=700, days=2, medias=4, tz_offset_hours=-8, end=END)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        out = run_tap(config_for(server), select={"wistia_account_daily_stats"})
        statistics = Statistics(server.account)
    days = out.of("wistia_account_daily_stats")
    first = dt.date.fromisoformat(days[0]["date"])
    last = dt.date.fromisoformat(days[-1]["date"])
    assert days == statistics.days(None, first, last, "every_day")
    assert sum(day["load_count"] for day in days) == 700
