"""The sandbox's current Wistia API (/modern) next to v1, and the admin index, over real HTTP.

What is checked comes from Wistia's OpenAPI spec (2026.03, wistia/wistia-typescript-sdk) and its
migration guide: paths without .json, the release header and how releases resolve, folders
instead of projects, cursor pagination of medias and its rules, the same statistics as v1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tap_wistia.sandbox import SANDBOX_TOKEN, Account, AccountSpec, WistiaSandbox
from tap_wistia.sandbox.current import RELEASES, ReleaseError, resolve_release

END = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
SPEC = AccountSpec(seed=11, events=900, days=3, visitors=80, medias=23, end=END)
RELEASE = "2026-03"


@pytest.fixture(scope="module")
def shared():
    with WistiaSandbox(Account(SPEC), rate_limit_per_minute=None) as sandbox:
        yield sandbox


def v1(sandbox: WistiaSandbox, path: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    return requests.get(f"{sandbox.url}{path}", params=params, headers=headers, timeout=5)


def current(
    sandbox: WistiaSandbox, path: str, release: str | None = RELEASE, **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    if release is not None:
        headers["X-Wistia-Api-Version"] = release
    return requests.get(f"{sandbox.current_url}{path}", params=params, headers=headers, timeout=5)


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def cursor_walk(sandbox: WistiaSandbox, per_page: int, **params: Any) -> list[dict[str, Any]]:
    """Every media a client paging by cursor sees, `cursor[after]` the last record's cursor."""
    seen: list[dict[str, Any]] = []
    position: dict[str, Any] = {"cursor[enabled]": 1}
    for _ in range(100):
        batch = ok(current(sandbox, "/medias", per_page=per_page, **params, **position))
        seen.extend(batch)
        if len(batch) < per_page:
            return seen
        position = {"cursor[after]": batch[-1]["cursor"]}
    pytest.fail("cursor paging never ended")


def test_statistics_are_the_same_bytes_in_both_apis(shared):
    for page in (1, 2):
        params: dict[str, Any] = {"per_page": 100, "page": page, "start_date": "2025-03-09"}
        assert current(shared, "/stats/events", **params).content == (
            v1(shared, "/stats/events.json", **params).content
        )
    assert current(shared, "/stats/visitors", per_page=100).content == (
        v1(shared, "/stats/visitors.json", per_page=100).content
    )
    event = ok(v1(shared, "/stats/events.json", per_page=1))[0]
    assert ok(current(shared, f"/stats/events/{event['event_key']}")) == event
    visitor = ok(v1(shared, "/stats/visitors.json", per_page=1))[0]
    assert ok(current(shared, f"/stats/visitors/{visitor['visitor_key']}")) == visitor


def test_paths_are_as_each_api_writes_them(shared):
    assert current(shared, "/medias.json").status_code == 404  # the current API has no .json
    assert current(shared, "/stats/events.json").status_code == 404
    # v1 takes both: Wistia's guide writes /v1/medias, its older docs /v1/medias.json
    assert ok(v1(shared, "/medias", per_page=3)) == ok(v1(shared, "/medias.json", per_page=3))
    media = ok(v1(shared, "/medias.json", per_page=1))[0]
    assert ok(v1(shared, f"/medias/{media['hashed_id']}")) == media
    assert ok(current(shared, f"/medias/{media['hashed_id']}"))["hashed_id"] == media["hashed_id"]


def test_releases_resolve_as_the_migration_guide_says():
    assert resolve_release(None) == RELEASES[-1]  # no header: the newest stable release
    assert resolve_release("2026-03") == "2026-03"
    assert resolve_release("2026-02") == "2026-01"  # a month without a release: the one before
    assert resolve_release("2025-11") == "2026-01"  # older than any: the least recent stable
    assert resolve_release("2031-01") == RELEASES[-1]
    for bad in ("banana", "2026-3", "2026-13", "v1", "2026-03-01"):
        with pytest.raises(ReleaseError, match="X-Wistia-Api-Version"):
            resolve_release(bad)


def test_a_header_that_is_no_release_is_refused_with_the_spec_error_body(shared):
    refused = current(shared, "/stats/events", release="latest")
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("application/json")
    assert set(refused.json()) == {"error"}
    assert "X-Wistia-Api-Version" in refused.json()["error"]
    assert current(shared, "/stats/events", release=None).status_code == 200  # newest release
    assert current(shared, "/stats/events", release="2026-02").status_code == 200
    # v1 ignores the header entirely
    headers = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "X-Wistia-Api-Version": "latest"}
    assert requests.get(f"{shared.url}/medias.json", headers=headers, timeout=5).ok


def test_current_medias_are_filed_in_folders_not_projects(shared):
    old = {media["hashed_id"]: media for media in ok(v1(shared, "/medias.json", per_page=100))}
    new = ok(current(shared, "/medias", per_page=100))
    assert {media["hashed_id"] for media in new} == set(old)
    for media in new:
        assert "project" not in media
        assert media["folder"] == old[media["hashed_id"]]["project"]
        assert set(media["folder"]) == {"id", "name", "hashedId"}
        assert media["subfolder"] is None
        assert media["cursor"] is None  # only cursor pagination fills it
        assert all(set(tag) == {"name"} for tag in media["tags"])
        same = {k: v for k, v in media.items() if k not in ("folder", "subfolder", "cursor")}
        assert same == {k: v for k, v in old[media["hashed_id"]].items() if k != "project"}


@pytest.mark.parametrize("sort_by", ["created", "id"])
@pytest.mark.parametrize("direction", ["1", "0"])
def test_cursor_pages_list_every_media_once_in_order(shared, sort_by, direction):
    medias = ok(v1(shared, "/medias.json", per_page=100))
    expected = sorted(medias, key=lambda media: (media[sort_by], media["id"]))
    if direction == "0":
        expected.reverse()
    walked = cursor_walk(shared, 5, sort_by=sort_by, sort_direction=direction)
    assert [media["hashed_id"] for media in walked] == [media["hashed_id"] for media in expected]
    assert len({media["cursor"] for media in walked}) == len(walked)
    assert all(isinstance(media["cursor"], str) and media["cursor"] for media in walked)


def test_cursor_before_gives_the_page_before(shared):
    walked = cursor_walk(shared, 5)
    page_two = walked[5:10]
    before = ok(current(shared, "/medias", per_page=5, **{"cursor[before]": page_two[0]["cursor"]}))
    assert [media["hashed_id"] for media in before] == [m["hashed_id"] for m in walked[:5]]
    first = ok(current(shared, "/medias", per_page=5, **{"cursor[before]": walked[0]["cursor"]}))
    assert first == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"cursor[enabled]": "1", "page": "2"}, "page"),
        ({"cursor[enabled]": "1", "sort_by": "name"}, "sort_by"),
        ({"cursor[enabled]": "1", "sort_by": "updated"}, "sort_by"),
        ({"cursor[enabled]": "2"}, "cursor[enabled]"),
        ({"cursor[after]": "not-a-cursor"}, "cursor"),
        ({"sort_by": "rating"}, "sort_by"),
        ({"sort_direction": "2"}, "sort_direction"),
    ],
)
def test_cursor_rules_of_the_spec_are_enforced_with_400(shared, params, named):
    refused = current(shared, "/medias", **params)
    assert refused.status_code == 400
    assert named in refused.json()["error"]


def test_a_cursor_is_only_valid_for_the_sort_it_came_from(shared):
    cursor: dict[str, Any] = {"cursor[enabled]": 1}
    by_id = ok(current(shared, "/medias", per_page=3, sort_by="id", **cursor))
    refused = current(
        shared, "/medias", per_page=3, sort_by="created", **{"cursor[after]": by_id[-1]["cursor"]}
    )
    assert refused.status_code == 400
    assert "sort_by" in refused.json()["error"]


def test_a_cursor_outlives_the_media_it_points_at(shared):
    walked = cursor_walk(shared, 5)
    shared.set_faults(deleted_medias=[walked[4]["hashed_id"]])
    try:
        after = {"cursor[after]": walked[4]["cursor"]}
        rest = ok(current(shared, "/medias", per_page=100, **after))
    finally:
        shared.set_faults()
    assert [media["hashed_id"] for media in rest] == [m["hashed_id"] for m in walked[5:]]


def test_page_zero_is_answered_as_page_one(shared):
    for path in ("/stats/events.json", "/medias.json", "/stats/visitors.json"):
        assert ok(v1(shared, path, page=0, per_page=7)) == ok(v1(shared, path, page=1, per_page=7))
    assert ok(current(shared, "/stats/events", page=0)) == ok(current(shared, "/stats/events"))


def test_the_rate_limit_is_plain_text_in_both_apis():
    with WistiaSandbox(Account(SPEC), rate_limit_per_minute=2) as sandbox:
        v1(sandbox, "/medias.json")
        current(sandbox, "/medias")
        limited = [v1(sandbox, "/medias.json"), current(sandbox, "/stats/events")]
        sandbox.set_rate_limit(None)
        sandbox.set_faults(fail_next=[429, 503], fail_paths=["/modern/"])
        injected = current(sandbox, "/stats/visitors")
        unavailable = current(sandbox, "/stats/visitors")
    for response in (*limited, injected):
        assert response.status_code == 429
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.text == "Rate limit exceeded"
        assert int(response.headers["Retry-After"]) >= 1
    assert unavailable.status_code == 503
    assert "error" in unavailable.json()  # 5xx answers stay JSON, as the spec writes them


def test_one_shot_faults_reach_the_current_events_endpoint_by_default():
    with WistiaSandbox(Account(SPEC), rate_limit_per_minute=None) as sandbox:
        sandbox.set_faults(fail_next=[500])
        assert current(sandbox, "/stats/events").status_code == 500
        assert current(sandbox, "/stats/events").status_code == 200


def test_the_admin_home_lists_the_admin_api(shared):
    for prefix in ("", "/v1", "/modern"):
        home = requests.get(f"{shared.base_url}{prefix}/_sandbox/", timeout=5)
        assert home.status_code == 200
        listed = home.json()["admin_api"]
        assert {"GET /_sandbox/stats", "POST /_sandbox/faults", "POST /_sandbox/events"} <= set(
            listed
        )
    assert requests.get(f"{shared.base_url}/_sandbox/nothing", timeout=5).status_code == 404


def test_unauthenticated_requests_to_the_current_api_get_the_401_body(shared):
    response = requests.get(
        f"{shared.current_url}/medias", headers={"X-Wistia-Api-Version": RELEASE}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized_credentials", "error": "Invalid credentials."}
