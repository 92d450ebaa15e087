"""The sandbox's statistics, folders, tags and captions: as Wistia's specs say, and derived from
the same events the events endpoint serves."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox

if TYPE_CHECKING:
    from collections.abc import Mapping

TOKEN = "sandbox-wistia-token"
RELEASE = {"X-Wistia-Api-Version": "2026-03"}
END = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def sandbox():
    spec = AccountSpec(seed=31, events=2000, days=3, visitors=90, medias=14, end=END)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        yield server


def get(
    server: WistiaSandbox,
    path: str,
    token: str = TOKEN,
    query: Mapping[str, Any] | None = None,
    **params: Any,
) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        **(RELEASE if path.startswith("/modern") else {}),
    }
    return requests.get(
        server.base_url + path, params={**(query or {}), **params}, headers=headers, timeout=10
    )


def medias(server: WistiaSandbox) -> list[dict[str, Any]]:
    return server.account.medias()


def test_media_totals_count_the_media_s_events(sandbox):
    events = list(sandbox.account.all_events())
    for media in medias(sandbox):
        mine = [event for event in events if event["media_id"] == media["hashed_id"]]
        totals = get(sandbox, f"/v1/stats/medias/{media['hashed_id']}.json").json()
        plays = [event for event in mine if event["percent_viewed"] > 0]
        assert totals["load_count"] == len(mine)
        assert totals["play_count"] == len(plays)
        assert totals["visitors"] == len({event["visitor_key"] for event in mine})
        seconds = media["duration"] if media["type"] in ("Video", "Audio") else 0
        watched = sum(event["percent_viewed"] for event in plays) * seconds / 3600
        assert totals["hours_watched"] == pytest.approx(watched)
        assert 0 <= totals["play_rate"] <= 1
        assert 0 <= totals["engagement"] <= 1
        assert totals["actions"][0]["type"] == "Turnstile"
        same = get(sandbox, f"/modern/stats/medias/{media['hashed_id']}").json()
        assert same == totals  # the same fields in both APIs


def test_the_engagement_curve_has_a_cell_per_second_up_to_a_thousand(sandbox):
    for media in medias(sandbox):
        curve = get(sandbox, f"/v1/stats/medias/{media['hashed_id']}/engagement").json()
        if media["type"] not in ("Video", "Audio"):
            assert curve["engagement_data"] == []
            continue
        cells = min(math.ceil(media["duration"]), 1000)
        assert len(curve["engagement_data"]) == len(curve["rewatch_data"]) == cells
        totals = get(sandbox, f"/v1/stats/medias/{media['hashed_id']}.json").json()
        assert curve["engagement_data"][0] <= totals["play_count"]
        assert curve["engagement_data"] == sorted(curve["engagement_data"], reverse=True)
        assert all(
            r <= e for r, e in zip(curve["rewatch_data"], curve["engagement_data"], strict=True)
        )


def test_days_add_up_to_the_totals_and_the_account(sandbox):
    first, last = (END - dt.timedelta(days=5)).date(), (END + dt.timedelta(days=1)).date()
    span = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    loads = 0
    for media in medias(sandbox):
        days = get(
            sandbox, f"/v1/stats/medias/{media['hashed_id']}/by_date.json", query=span
        ).json()
        assert [day["date"] for day in days] == [
            (first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)
        ]
        totals = get(sandbox, f"/v1/stats/medias/{media['hashed_id']}.json").json()
        assert sum(day["load_count"] for day in days) == totals["load_count"]
        assert sum(day["hours_watched"] for day in days) == pytest.approx(totals["hours_watched"])
        loads += totals["load_count"]
    account = get(sandbox, "/modern/stats/account/by_date", query=span).json()
    assert sum(day["load_count"] for day in account) == loads
    assert get(sandbox, "/v1/stats/account.json").json()["load_count"] == loads


def test_days_listed_only_when_active_come_newest_first(sandbox):
    sandbox.set_faults(daily_listing="active_days")
    try:
        span = {"start_date": "2026-01-01", "end_date": "2026-03-11"}
        days = get(sandbox, "/v1/stats/account/by_date.json", query=span).json()
    finally:
        sandbox.set_faults()
    dates = [day["date"] for day in days]
    assert dates == sorted(dates, reverse=True)
    assert all(day["load_count"] > 0 for day in days)
    assert len(days) == 4  # the account's three days touch four calendar days


def test_by_date_defaults_and_refusals(sandbox):
    days = get(sandbox, "/v1/stats/account/by_date.json").json()
    assert len(days) == 2  # yesterday and today
    bad = get(sandbox, "/v1/stats/account/by_date.json", start_date="10/03/2026")
    assert bad.status_code == 422
    assert "start_date" in bad.json()["error"]
    backwards = get(
        sandbox, "/v1/stats/account/by_date.json", start_date="2026-03-10", end_date="2026-03-01"
    )
    assert backwards.status_code == 422


def test_unknown_or_deleted_medias_answer_404_with_no_body(sandbox):
    for path in (
        "/v1/stats/medias/nosuchmedia.json",
        "/modern/stats/medias/nosuchmedia/by_date",
        "/v1/stats/medias/nosuchmedia/engagement.json",
        "/v1/medias/nosuchmedia/captions.json",
    ):
        answer = get(sandbox, path)
        assert (answer.status_code, answer.content) == (404, b""), path
    ghost = sandbox.account.deleted_media_ids()[0]
    assert get(sandbox, f"/v1/stats/medias/{ghost}.json").status_code == 404
    media = medias(sandbox)[0]["hashed_id"]
    sandbox.set_faults(deleted_medias=[media])
    try:
        assert get(sandbox, f"/modern/stats/medias/{media}").status_code == 404
    finally:
        sandbox.set_faults()


def test_each_endpoint_asks_for_its_permission(sandbox):
    media = medias(sandbox)[0]["hashed_id"]
    denied = get(sandbox, f"/v1/stats/medias/{media}.json", token="sandbox-media-only")
    assert (denied.status_code, denied.json()["code"]) == (401, "unauthorized_scope")
    assert get(sandbox, "/v1/projects.json", token="sandbox-stats-only").status_code == 401
    assert get(sandbox, f"/v1/medias/{media}/captions", token="sandbox-media-only").ok
    assert get(sandbox, "/modern/tags", token="sandbox-media-only").status_code == 401
    assert get(sandbox, "/modern/tags").ok
    sandbox.set_faults(plan_lacks=["stats"])
    try:
        assert get(sandbox, "/v1/stats/account/by_date.json").status_code == 403
    finally:
        sandbox.set_faults()


def test_folders_are_projects_in_v1_and_page_by_cursor_in_the_current_api(sandbox):
    projects = get(sandbox, "/v1/projects", per_page=2).json()
    assert {"hashedId", "mediaCount", "anonymousCanUpload"} <= set(projects[0])
    every = get(sandbox, "/v1/projects.json").json()
    assert sum(project["mediaCount"] for project in every) == len(medias(sandbox))
    first = get(
        sandbox, "/modern/folders", query={"cursor[enabled]": 1, "per_page": 2, "sort_by": "id"}
    )
    page = first.json()
    assert len(page) == 2
    rest = get(
        sandbox, "/modern/folders", query={"cursor[after]": page[-1]["cursor"], "sort_by": "id"}
    )
    listed = [folder["hashed_id"] for folder in page + rest.json()]
    assert sorted(listed) == sorted(project["hashedId"] for project in every)
    assert get(sandbox, "/modern/folders").json()[0]["cursor"] is None
    for refused in (
        {"cursor[enabled]": 1, "page": 2},
        {"cursor[enabled]": 1, "sort_by": "name"},
        {"cursor[after]": "garbage"},
        {"sort_by": "colour"},
    ):
        answer = get(sandbox, "/modern/folders", query=refused)
        assert answer.status_code == 400, refused
        assert answer.json()["error"]
    assert get(sandbox, "/v1/projects.json", sort_by="colour").status_code == 422


def test_subfolders_page_by_id_and_an_unknown_folder_says_so(sandbox):
    folders = get(sandbox, "/modern/folders").json()
    found = 0
    for folder in folders:
        listed = get(sandbox, f"/modern/folders/{folder['hashed_id']}/subfolders").json()
        found += len(listed)
        for subfolder in listed:
            assert set(subfolder) == {
                "hashed_id",
                "name",
                "description",
                "position",
                "created",
                "updated",
                "cursor",
            }
    assert found
    cursor_by_name = get(
        sandbox,
        f"/modern/folders/{folders[0]['hashed_id']}/subfolders",
        query={"cursor[enabled]": 1, "sort_by": "position"},
    )
    assert cursor_by_name.status_code == 400
    missing = get(sandbox, "/modern/folders/nosuchfold/subfolders")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Folder with ID nosuchfold not found."}
    assert get(sandbox, "/v1/projects/abc/subfolders.json").status_code == 404  # not in v1


def test_tags_count_the_medias_carrying_them(sandbox):
    tags = get(sandbox, "/v1/tags.json").json()
    carried: dict[str, int] = {}
    for media in medias(sandbox):
        for tag in media["tags"]:
            carried[tag["name"]] = carried.get(tag["name"], 0) + 1
    assert {tag["name"]: tag["taggingsCount"] for tag in tags} == carried
    assert all(set(tag) == {"name", "taggingsCount", "created", "updated"} for tag in tags)
    by_cursor = get(
        sandbox, "/modern/tags", query={"cursor[enabled]": 1, "sort_by": "created"}
    ).json()
    assert sorted(tag["name"] for tag in by_cursor) == sorted(carried)
    assert all(tag["cursor"] for tag in by_cursor)


def test_captions_belong_to_videos_and_audio_only(sandbox):
    with_captions = 0
    for media in medias(sandbox):
        tracks = get(sandbox, f"/modern/medias/{media['hashed_id']}/captions").json()
        if media["type"] not in ("Video", "Audio"):
            assert tracks == []
        for track in tracks:
            assert len(track["language"]) == 3
            assert media["name"] in track["text"]
            assert track["text"].startswith("1\n00:00:00,000 --> ")
        with_captions += bool(tracks)
    assert with_captions >= 3
