"""The streams beyond viewing as real processes: Meltano loads each into target-jsonl, and a
signal stops the statistics without claiming a read that did not finish."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.library import Library
from tap_wistia.sandbox.server import WistiaSandbox
from tap_wistia.sandbox.statistics import Statistics
from tests.harness import ROOT, TapOutput, catalog_selecting, run_tap
from tests.pipeline_stack import RUN_TIMEOUT, running_stack

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.e2e

NEW = (
    "wistia_account_daily_stats",
    "wistia_captions",
    "wistia_folders",
    "wistia_media_daily_stats",
    "wistia_media_engagement",
    "wistia_media_stats",
    "wistia_tags",
)


def written(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """The records target-jsonl wrote, by stream (it names each file <stream>-<time>.jsonl)."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in folder.iterdir():
        stream = path.name.rsplit("-", 1)[0]
        records.setdefault(stream, []).extend(json.loads(line) for line in path.open())
    return records


def test_meltano_loads_every_new_stream_into_target_jsonl(tmp_path):
    spec = AccountSpec(seed=7, events=900, days=2, visitors=60, medias=8)
    with running_stack(tmp_path, spec) as stack:
        folder = tmp_path / "jsonl"
        select = json.dumps([f"{stream}.*" for stream in ("wistia_activity", *NEW)])
        run = stack.meltano.run(
            "tap-wistia",
            "target-jsonl",
            extra_env={"TARGET_JSONL_DESTINATION_PATH": str(folder), "TAP_WISTIA__SELECT": select},
            timeout=RUN_TIMEOUT,
        ).check()
        records = written(folder)
        assert set(records) == {"wistia_activity", *NEW}, run.tail()
    account = Account(spec)  # the same spec: the same account as the sandbox process served
    statistics, library = Statistics(account), Library(account)
    medias = sorted(media["hashed_id"] for media in account.medias())
    stats = {record["media_id"]: record for record in records["wistia_media_stats"]}
    assert sorted(stats) == medias
    for media_id, record in stats.items():
        assert {key: record[key] for key in statistics.totals(media_id)} == statistics.totals(
            media_id
        )
    curves = {record["media_id"]: record for record in records["wistia_media_engagement"]}
    for media_id in medias:
        wanted_curve = statistics.curve(media_id)
        assert curves[media_id]["engagement_data"] == wanted_curve["engagement_data"]
    days = records["wistia_media_daily_stats"]
    assert {day["media_id"] for day in days} == set(medias)
    for day in days:
        on = dt.date.fromisoformat(day["date"])
        [wanted] = statistics.days(day["media_id"], on, on, "every_day")
        assert day == {"media_id": day["media_id"], **wanted}
    account_loads = sum(day["load_count"] for day in records["wistia_account_daily_stats"])
    assert account_loads == sum(record["load_count"] for record in stats.values()) == 900
    assert len(records["wistia_folders"]) == len(library.folders)
    assert {tag["name"] for tag in records["wistia_tags"]} == {t["name"] for t in library.tags}
    assert len(records["wistia_captions"]) == sum(map(len, library.captions.values()))


def test_a_signal_during_the_statistics_claims_nothing_of_them(tmp_path):
    spec = AccountSpec(seed=8, events=600, days=1, visitors=50, medias=240)
    with WistiaSandbox(Account(spec), rate_limit_per_minute=None) as server:
        server.set_faults(latency_ms=60)
        config = {
            "api_token": "sandbox-wistia-token",
            "api_url": server.url,
            "start_date": spec.end_at.date().isoformat(),
            "max_parallel_requests": 2,
            "max_requests_per_minute": 100_000,
        }
        catalog = tmp_path / "catalog.json"
        selected = catalog_selecting(config, {"wistia_activity", "wistia_media_stats"})
        catalog.write_text(json.dumps(selected))
        (tmp_path / "config.json").write_text(json.dumps(config))
        out = tmp_path / "out.jsonl"
        command = [sys.executable, "-m", "tap_wistia", "--config", str(tmp_path / "config.json")]
        process = subprocess.Popen(
            [*command, "--catalog", str(catalog)],
            stdout=out.open("wb"),
            stderr=(tmp_path / "err.log").open("wb"),
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while out.read_text().count('"stream":"wistia_media_stats"') < 20:
            assert time.monotonic() < deadline, "no statistics written in a minute"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 143
        stderr = (tmp_path / "err.log").read_text()
        assert "Received SIGTERM: stopping at the next page" in stderr
        assert "Traceback" not in stderr, stderr[-3000:]
        cut = TapOutput([json.loads(line) for line in out.read_text().splitlines()])
        assert 20 <= len(cut.of("wistia_media_stats")) < 240
        assert cut.state["bookmarks"]["wistia_activity"]["replication_key_value"]
        assert "last_full_read_at" not in cut.state["bookmarks"].get("wistia_media_stats", {})

        server.set_faults()
        resumed = run_tap(config, cut.state, select={"wistia_activity", "wistia_media_stats"})
        assert len(resumed.of("wistia_media_stats")) == 240  # the full read, again, whole
