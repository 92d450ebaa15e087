"""The viewing streams' shortcut writes exactly what the SDK's own record pipeline writes.

`tap_wistia.output` skips the SDK's pruning and conformance for records they would not change.
Here every record is written both ways (the shortcut, and `Stream._write_record_message`, the
SDK's pipeline) under several configurations, and the bytes must be equal. Records the
shortcut must hand to the SDK (a deselected field, a non-finite number, an unknown field, a
0/1 where a boolean is due) are among them. And `record_count` counts what was written.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import logging
import math
from typing import Any

import pytest
import time_machine

from tap_wistia.events import EventProblems, normalize_event, view_event
from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox
from tap_wistia.sessions import sessionize
from tap_wistia.streams import ViewingStream
from tap_wistia.tap import TapWistia
from tests.clock import END, clock_at, run_moment
from tests.harness import catalog_selecting, run_tap

ACCOUNT = Account(AccountSpec(seed=9, events=400, days=2, visitors=40, medias=5, end=END))


def real_records() -> dict[str, list[dict[str, Any]]]:
    problems = EventProblems()
    events = [e for raw in ACCOUNT.all_events() if (e := normalize_event(raw, problems))]
    views = [view for view in (view_event(e, problems) for e in events) if view]
    durations = {m["hashed_id"]: m.get("duration") for m in ACCOUNT.medias()}
    sessions = sessionize(views, durations, dt.timedelta(minutes=30))
    return {
        "wistia_events": events[:150],
        "wistia_activity": [session.to_record() for session in sessions[:150]],
    }


def changed_records(stream: str, sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Records the SDK's conformance changes: the shortcut must hand them to the SDK."""
    key = "percent_viewed" if stream == "wistia_events" else "duration_viewed"
    return [
        {**sample, key: math.inf},
        {**sample, key: math.nan},
        {**sample, "not_in_the_schema": "x"},
        {**sample, "user_agent_details": {"browser": "Firefox", "mobile": 1}},
        {**sample, "user_agent_details": {"browser": "Firefox", "mobile": "yes"}},
    ]


def kept_records(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """Unusual records conformance leaves as they are (the shortcut may take them)."""
    return [
        {**sample, "lat": 1},  # an integer where a number is due
        {**sample, "user_agent_details": {"extra": [1, 2]}},  # an open object's own member
        {**sample, "lat": None, "lon": None, "city": ""},
    ]


CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "stream maps": {
        "stream_maps": {
            "wistia_events": {"ip": None, "city_upper": "city.upper() if city else None"},
            "wistia_activity": {"__alias__": "viewings", "org": "'hidden'"},
        }
    },
    "filter": {
        "stream_maps": {
            "wistia_events": {"__filter__": "percent_viewed is not None and percent_viewed > 0.5"},
        }
    },
    "flattening": {"flattening_enabled": True, "flattening_max_depth": 1},
}
DESELECTED = {"wistia_events": ["ip", "user_agent_details"], "wistia_activity": ["embed_url"]}


def tap_for(settings: dict[str, Any], *, deselect: bool) -> TapWistia:
    config = {"api_token": "t", "api_url": "http://127.0.0.1:9/v1", **settings}
    catalog = catalog_selecting(config, {"wistia_events", "wistia_activity"})
    if deselect:
        for entry in catalog["streams"]:
            for item in entry["metadata"]:
                breadcrumb = item["breadcrumb"]
                if breadcrumb and breadcrumb[-1] in DESELECTED.get(entry["tap_stream_id"], ()):
                    item["metadata"]["selected"] = False
    return TapWistia(config=config, catalog=catalog)


def viewing(tap: TapWistia, name: str) -> ViewingStream:
    stream = tap.streams[name]
    assert isinstance(stream, ViewingStream)
    return stream


def written(write: Any, record: dict[str, Any]) -> bytes:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out):
        write(copy.deepcopy(record))
        out.flush()
    return raw.getvalue()


@pytest.mark.parametrize("deselect", [False, True], ids=["all-selected", "deselected"])
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("stream_name", ["wistia_events", "wistia_activity"])
def test_the_shortcut_writes_the_bytes_the_sdk_pipeline_writes(stream_name, config, deselect):
    tap = tap_for(config, deselect=deselect)
    stream = viewing(tap, stream_name)
    records = real_records()[stream_name]
    changed = changed_records(stream_name, records[0])
    records += changed + kept_records(records[0])
    took_shortcut = 0
    with time_machine.travel(END, tick=False):  # one time_extracted for both
        for record in records:
            ours = written(stream.output.write_record, record)
            sdk = written(stream._write_record_message, record)
            assert ours == sdk, (record, ours, sdk)
            took_shortcut += stream.output._all_selected() and stream.output._conformance.holds(
                record
            )
    if deselect:
        assert took_shortcut == 0  # pruning would change them: all went through the SDK
    else:
        assert took_shortcut == len(records) - len(changed)


def test_records_conformance_would_change_leave_the_shortcut():
    tap = tap_for({}, deselect=False)
    for name, records in real_records().items():
        conformance = viewing(tap, name).output._conformance
        assert all(conformance.holds(record) for record in records)
        for record in changed_records(name, records[0]):
            assert not conformance.holds(record), record


def record_counts(caplog: pytest.LogCaptureFixture) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in caplog.records:
        message = entry.getMessage()
        if "METRIC" not in message or '"record_count"' not in message:
            continue
        point = json.loads(message.split("METRIC: ", 1)[1])
        stream = point["tags"]["stream"]
        counts[stream] = counts.get(stream, 0) + point["value"]
    return counts


def test_record_count_metrics_count_what_was_written(caplog):
    with clock_at(run_moment(END)), WistiaSandbox(ACCOUNT, rate_limit_per_minute=None) as server:
        start = (END - dt.timedelta(days=2)).date().isoformat()
        config = {"api_token": "sandbox-wistia-token", "api_url": server.url, "start_date": start}
        with caplog.at_level(logging.INFO, logger="singer_sdk.metrics"):
            out = run_tap(config)
    counts = record_counts(caplog)
    for stream in ("wistia_events", "wistia_activity", "wistia_medias"):
        assert counts.get(stream) == len(out.of(stream)) > 0, (stream, counts)
