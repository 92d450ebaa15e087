"""The pure cores of wistia_medias and wistia_visitors: record shapes, playing time, refresh."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pytest

from tap_wistia.api_versions import ApiVersion, api_of_url, is_release
from tap_wistia.client import WistiaError
from tap_wistia.medias import media_durations, media_record, playing_seconds, read_medias
from tap_wistia.refresh import READ_MARK, mark_read, read_due
from tap_wistia.visitors import visitor_record

if TYPE_CHECKING:
    from collections.abc import Mapping

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("kind", "duration", "seconds"),
    [
        ("Video", 167.0, 167.0),
        ("Audio", 1800, 1800.0),
        ("video", 12.5, 12.5),  # spelled otherwise: still a video
        ("PdfDocument", 12, None),  # a page count, not seconds
        ("MicrosoftOfficeDocument", 30, None),
        ("Image", None, None),
        ("Swf", 20.0, None),
        ("UnknownType", 20.0, None),
        (None, 20.0, None),
        ("Video", None, None),
        ("Video", 0, None),
        ("Video", -3.0, None),
        ("Video", math.inf, None),
        ("Video", True, None),
        ("Video", "167", None),
    ],
)
def test_only_media_that_play_have_seconds(kind, duration, seconds):
    assert playing_seconds({"type": kind, "duration": duration}) == seconds


def test_durations_map_every_media_even_those_without_time():
    medias: list[dict[str, Any]] = [
        {"hashed_id": "vid", "type": "Video", "duration": 60.0},
        {"hashed_id": "pdf", "type": "PdfDocument", "duration": 12},
        {"hashed_id": "img", "type": "Image"},
    ]
    assert media_durations(medias) == {"vid": 60.0, "pdf": None, "img": None}


V1_MEDIA: dict[str, Any] = {
    "id": 101,
    "hashed_id": "abc1234567",
    "name": "Tour",
    "type": "Video",
    "duration": 167.0,
    "created": "2025-01-02T03:04:05+00:00",
    "updated": "2025-01-03T03:04:05+00:00",
    "status": "ready",
    "archived": False,
    "project": {"id": 7, "name": "Marketing", "hashedId": "4d23503f70"},
    "thumbnail": {"url": "https://x/t.jpg", "width": 200, "height": 120},
    "tags": [{"name": "product"}],
    "embedCode": "<iframe>",
    "assets": [{"url": "https://x/a.mp4"}],
    "progress": 1.0,
}


def test_a_v1_media_has_its_project_as_folder():
    record = media_record(V1_MEDIA)
    assert record["folder"] == {"id": 7, "name": "Marketing", "hashed_id": "4d23503f70"}
    assert record["subfolder"] is None
    assert record["tags"] == [{"name": "product"}]
    assert "project" not in record
    assert "embedCode" not in record
    assert "assets" not in record
    assert record["duration"] == 167.0


def test_a_current_media_gives_the_same_record():
    current = {k: v for k, v in V1_MEDIA.items() if k != "project"}
    current |= {
        "folder": V1_MEDIA["project"],
        "subfolder": {"hashed_id": "sub1234567", "name": "Q1", "position": 1},
        "cursor": "opaque",
    }
    record = media_record(current)
    assert record == {**media_record(V1_MEDIA), "subfolder": {
        "id": None, "name": "Q1", "hashed_id": "sub1234567"
    }}  # fmt: skip
    assert "cursor" not in record


def test_older_spellings_are_read_too():
    older = {**V1_MEDIA, "project": {"id": 7, "name": "M", "hashed_id": "p1"}, "tags": ["a", "b"]}
    record = media_record(older)
    assert record["folder"]["hashed_id"] == "p1"
    assert record["tags"] == [{"name": "a"}, {"name": "b"}]
    assert media_record({"hashed_id": "x", "folder": None, "tags": None})["folder"] is None


def test_cursor_pages_without_a_cursor_stop_with_a_message():
    full_page = [{"hashed_id": f"m{n}", "type": "Video"} for n in range(100)]

    def get(path: str, params: Any) -> list[dict[str, Any]]:
        assert path == "medias"
        assert params["cursor[enabled]"] == 1
        return full_page

    with pytest.raises(WistiaError, match="no cursor"):
        read_medias(get, ApiVersion("2026-03"))


def test_a_cursor_that_repeats_stops_instead_of_looping():
    page = [{"hashed_id": f"m{n}", "cursor": "same"} for n in range(100)]
    calls: list[dict[str, Any]] = []

    def get(path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        calls.append(dict(params))
        return page

    with pytest.raises(WistiaError, match="already used"):
        read_medias(get, ApiVersion("2026-03"))
    assert len(calls) == 2
    assert calls[1]["cursor[after]"] == "same"


def test_a_visitor_record_resolves_the_identity_next_to_the_raw_one():
    raw = {
        "visitor_key": "1760721_33d184e1-0ad6-4cc2-9d5b-7e0b2a3cf4ea",
        "created_at": "2025-10-17T17:24:53.000Z",
        "last_active_at": "2025-10-18T09:00:00.000Z",
        "last_event_key": "k2",
        "identifying_event_key": "k1",
        "load_count": 4,
        "play_count": 3,
        "visitor_identity": {
            "name": " Zoë Müller ",
            "email": "  Zoe.Mueller@Example.COM ",
            "org": {"name": "Acme", "title": ""},
        },
        "user_agent_details": {"browser": "Unknown Browser", "browser_version": "0"},
    }
    record = visitor_record(raw)
    assert record is not None
    assert record["visitor_identity"] == raw["visitor_identity"]
    assert record["email"] == "zoe.mueller@example.com"
    assert record["name"] == "Zoë Müller"
    assert (record["org_name"], record["org_title"]) == ("Acme", None)
    assert record["identifying_event_key"] == "k1"
    anonymous = visitor_record({"visitor_key": "B6D1F479", "visitor_identity": {"email": None}})
    assert anonymous is not None
    assert anonymous["email"] is None
    assert anonymous["name"] is None
    assert visitor_record({"visitor_key": " "}) is None
    assert visitor_record({}) is None


def test_visitors_are_due_when_never_read_or_read_a_refresh_ago():
    refresh = dt.timedelta(hours=24)
    state: dict[str, Any] = {}
    assert read_due(state, NOW, refresh)
    mark_read(state, NOW - dt.timedelta(hours=23))
    assert state[READ_MARK] == "2026-03-09T13:00:00.000000Z"
    assert not read_due(state, NOW, refresh)
    assert read_due(state, NOW, dt.timedelta(hours=23))
    assert read_due(state, NOW, dt.timedelta(0))
    assert read_due({READ_MARK: "garbage"}, NOW, refresh)


def test_releases_and_urls_of_each_api():
    assert is_release("2026-01")
    assert is_release("2026-05")
    assert not is_release("2025-12")
    assert not is_release("2026-13")
    assert not is_release("2026-3")
    assert api_of_url("https://api.wistia.com/v1") == "v1"
    assert api_of_url("https://api.wistia.com/modern/") == "modern"
    assert api_of_url("http://127.0.0.1:8701/modern") == "modern"
    assert api_of_url("https://proxy.example/wistia") is None
    assert ApiVersion().medias_path == "medias.json"
    assert ApiVersion("2026-03").visitors_path == "stats/visitors"
