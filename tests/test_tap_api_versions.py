"""The tap over v1 and over the current API (api_version) of one sandbox account: same output.

Also the medias' one record shape and why only media that play have a time viewed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox
from tests.clock import END
from tests.harness import TapOutput, run_tap

TOKEN = "sandbox-wistia-token"
RELEASE = "2026-03"
DAYS = 3
EVERY_STREAM = {"wistia_activity", "wistia_events", "wistia_medias", "wistia_visitors"}


pytestmark = pytest.mark.usefixtures("pinned_clock")


@pytest.fixture
def sandbox(wistia_sandbox, pinned_clock):
    return wistia_sandbox(
        AccountSpec(seed=21, events=2500, days=DAYS, visitors=140, medias=12, end=END)
    )


def v1_config(server: WistiaSandbox, **extra: Any) -> dict[str, Any]:
    start = (END - dt.timedelta(days=DAYS)).date().isoformat()
    return {"api_token": TOKEN, "api_url": server.url, "start_date": start, **extra}


def current_config(server: WistiaSandbox, **extra: Any) -> dict[str, Any]:
    return v1_config(server, api_url=server.current_url, api_version=RELEASE, **extra)


def by_key(out: TapOutput, stream: str, key: str) -> dict[str, dict[str, Any]]:
    records = out.of(stream)
    keyed = {record[key]: record for record in records}
    assert len(keyed) == len(records), f"{stream}: a key emitted twice"
    return keyed


def test_both_apis_give_the_same_records_of_every_stream(sandbox):
    old = run_tap(v1_config(sandbox), select=EVERY_STREAM)
    v1_traffic = sandbox.stats()
    sandbox.reset_stats()
    new = run_tap(current_config(sandbox), select=EVERY_STREAM)
    traffic = sandbox.stats()
    for stream, key in (
        ("wistia_events", "event_key"),
        ("wistia_activity", "session_id"),
        ("wistia_medias", "hashed_id"),
        ("wistia_visitors", "visitor_key"),
    ):
        assert by_key(new, stream, key) == by_key(old, stream, key), stream
        assert by_key(new, stream, key), stream
    assert set(v1_traffic["by_path"]) == {
        "/v1/stats/events.json",
        "/v1/medias.json",
        "/v1/stats/visitors.json",
    }
    assert v1_traffic["by_release"] == {}
    assert set(traffic["by_path"]) == {
        "/modern/stats/events",
        "/modern/medias",
        "/modern/stats/visitors",
    }
    # every request of the run carried the release, on every endpoint
    assert traffic["by_release"] == {RELEASE: traffic["requests"]}
    assert new.tap is not None
    assert new.tap.client.stats.requests == traffic["requests"]  # one client, one budget


def test_medias_are_one_record_shape_whichever_api_served_them(sandbox):
    out = run_tap(current_config(sandbox), select={"wistia_medias"})
    records = by_key(out, "wistia_medias", "hashed_id")
    served = {media["hashed_id"]: media for media in sandbox.account.medias()}
    assert set(records) == set(served)
    for hashed_id, record in records.items():
        v1 = served[hashed_id]
        assert "project" not in record
        assert record["folder"] == {
            "id": v1["project"]["id"],
            "name": v1["project"]["name"],
            "hashed_id": v1["project"]["hashedId"],
        }
        assert record["subfolder"] is None
        assert record["tags"] == v1["tags"]
        assert "cursor" not in record
        assert record["duration"] == v1.get("duration")  # as Wistia sends it, pages included


def test_more_medias_than_a_page_are_read_by_cursor_and_by_page(pinned_clock):
    spec = AccountSpec(seed=5, events=200, days=1, visitors=30, medias=230, end=END)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        old = run_tap(v1_config(server), select={"wistia_medias"})
        v1_requests = server.stats()["by_path"]["/v1/medias.json"]
        server.reset_stats()
        new = run_tap(current_config(server), select={"wistia_medias"})
        current_requests = server.stats()["by_path"]["/modern/medias"]
    assert by_key(new, "wistia_medias", "hashed_id") == by_key(old, "wistia_medias", "hashed_id")
    assert len(new.of("wistia_medias")) == 230
    assert v1_requests == current_requests == 4  # active 100 + 100 + 29, archived 1


@pytest.mark.parametrize("api", ["v1", "current"])
def test_documents_and_images_never_carry_a_time_viewed(sandbox, api):
    config = v1_config(sandbox) if api == "v1" else current_config(sandbox)
    out = run_tap(config, select={"wistia_activity"})
    kinds = {media["hashed_id"]: media["type"] for media in sandbox.account.medias()}
    sessions = out.of("wistia_activity")
    of_kind: dict[str, list[dict[str, Any]]] = {}
    for session in sessions:
        of_kind.setdefault(kinds[session["media_id"]], []).append(session)
    assert {"Video", "Audio", "Image", "PdfDocument"} <= set(of_kind), sorted(of_kind)
    for kind in ("Image", "PdfDocument", "MicrosoftOfficeDocument"):
        for session in of_kind.get(kind, []):
            assert session["media_duration"] is None, session
            assert session["duration_viewed"] is None, session
            assert session["percent_viewed"] is not None  # the share read/seen is still there
    for kind in ("Video", "Audio"):
        timed = [s for s in of_kind[kind] if s["percent_viewed"] is not None]
        assert timed
        assert all(s["media_duration"] > 0 for s in timed)
        assert all(s["duration_viewed"] is not None for s in timed)
