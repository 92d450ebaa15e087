"""The wistia_visitors stream over real HTTP: off by default, read whole only when due, and a
state that never claims a read that did not finish."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pytest

from tap_wistia.events import parse_timestamp
from tap_wistia.refresh import READ_MARK
from tap_wistia.sandbox.account import AccountSpec
from tap_wistia.tap import TapWistia
from tests.clock import END, clock_at, run_moment
from tests.harness import moment, run_tap

if TYPE_CHECKING:
    from tap_wistia.sandbox.server import WistiaSandbox

TOKEN = "sandbox-wistia-token"
VISITORS_PATH = "/v1/stats/visitors.json"


pytestmark = pytest.mark.usefixtures("pinned_clock")


@pytest.fixture
def sandbox(wistia_sandbox, pinned_clock):
    """250 visitors with events: three pages of the visitor list."""
    return wistia_sandbox(AccountSpec(seed=9, events=2500, days=2, visitors=260, medias=6, end=END))


def config_for(server: WistiaSandbox, **extra: Any) -> dict[str, Any]:
    return {"api_token": TOKEN, "api_url": server.url, **extra}


def visitor_requests(server: WistiaSandbox) -> int:
    return server.stats()["by_path"].get(VISITORS_PATH, 0)


def mark_of(state: dict[str, Any] | None) -> str | None:
    assert state is not None
    return state["bookmarks"].get("wistia_visitors", {}).get(READ_MARK)


def test_visitors_are_not_selected_by_default(sandbox):
    catalog = TapWistia(config=config_for(sandbox), validate_config=False).catalog_dict
    [entry] = [e for e in catalog["streams"] if e["tap_stream_id"] == "wistia_visitors"]
    [top] = [item for item in entry["metadata"] if item["breadcrumb"] == []]
    assert top["metadata"]["selected-by-default"] is False
    assert list(entry["key_properties"]) == ["visitor_key"]
    run_tap(config_for(sandbox))
    assert visitor_requests(sandbox) == 0


def test_a_read_emits_every_visitor_with_its_identity_resolved(sandbox):
    out = run_tap(config_for(sandbox), select={"wistia_visitors"})
    served = {visitor["visitor_key"]: visitor for visitor in sandbox.account.visitors()}
    records = {record["visitor_key"]: record for record in out.of("wistia_visitors")}
    assert len(served) > 200
    assert records.keys() == served.keys()
    assert visitor_requests(sandbox) == -(-len(served) // 100)  # one request per 100 visitors
    for key, record in records.items():
        raw = served[key]
        identity = raw["visitor_identity"]
        assert record["visitor_identity"] == identity
        for name in (
            "created_at",
            "last_active_at",
            "last_event_key",
            "identifying_event_key",
            "load_count",
            "play_count",
        ):
            assert record[name] == raw[name]
        email = identity["email"]
        assert record["email"] == (email.strip().lower() if email else None)
        assert record["name"] == (identity["name"] or None)
        assert record["org_name"] == identity["org"]["name"]
        assert record["org_title"] == identity["org"]["title"]
    assert any(record["email"] and record["org_name"] for record in records.values())
    assert any(record["email"] is None for record in records.values())
    started = out.tap.started_at
    assert parse_timestamp(mark_of(out.state)) == started


def test_a_run_within_the_refresh_reads_no_visitors_and_keeps_the_mark(sandbox):
    first = run_tap(config_for(sandbox), select={"wistia_visitors"})
    sandbox.reset_stats()
    later = run_moment(END) + dt.timedelta(hours=23)
    with clock_at(later):
        second = run_tap(config_for(sandbox), first.state, select={"wistia_visitors"})
    assert visitor_requests(sandbox) == 0
    assert second.of("wistia_visitors") == []
    assert mark_of(second.state) == mark_of(first.state)
    with clock_at(later + dt.timedelta(hours=1, minutes=1)):
        third = run_tap(config_for(sandbox), second.state, select={"wistia_visitors"})
    assert len(third.of("wistia_visitors")) == len(first.of("wistia_visitors"))
    assert mark_of(third.state) != mark_of(first.state)


def test_a_zero_refresh_reads_visitors_every_run(sandbox):
    config = config_for(sandbox, visitors_refresh_hours=0)
    first = run_tap(config, select={"wistia_visitors"})
    second = run_tap(config, first.state, select={"wistia_visitors"})
    assert len(second.of("wistia_visitors")) == len(first.of("wistia_visitors")) > 0


def test_an_interrupted_read_leaves_the_old_mark_and_the_next_run_reads_again(sandbox):
    config = config_for(sandbox, visitors_refresh_hours=1, max_retries=2)
    with clock_at(run_moment(END) - dt.timedelta(hours=2)):
        done = run_tap(config, select={"wistia_visitors"})
    old_mark = mark_of(done.state)
    assert old_mark is not None
    # the read's second page fails for good (two tries, two 500s); the first one is served
    sandbox.set_faults(fail_paths=[f"{VISITORS_PATH}?page=2&"], fail_next=[500, 500])
    broken = run_tap(config, done.state, select={"wistia_visitors"}, expect_error=True)
    assert "stats/visitors" in str(broken.error)
    assert len(broken.of("wistia_visitors")) == 100  # the first page was written
    assert broken.states
    assert all(mark_of(state) == old_mark for state in broken.states)
    again = run_tap(config, broken.states[-1], select={"wistia_visitors"})
    assert len(again.of("wistia_visitors")) == len(done.of("wistia_visitors"))
    assert moment(mark_of(again.state)) > moment(old_mark)


def test_visitors_over_the_current_api_are_the_same(sandbox):
    old = run_tap(config_for(sandbox), select={"wistia_visitors"})
    new = run_tap(
        config_for(sandbox, api_url=sandbox.current_url, api_version="2026-05"),
        select={"wistia_visitors"},
    )
    assert new.of("wistia_visitors") == old.of("wistia_visitors")
    assert sandbox.stats()["by_path"]["/modern/stats/visitors"] == visitor_requests(sandbox)
