"""The inputs of the benchmarks: tap configs and catalogs, and a prepared Singer file.

Every account is pinned to a fixed end time, so the same sizes give the same events on every
machine, and the tap reads all of it as a finished backfill (`keep_updated` false).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path  # noqa: TC003 - used at run time by Bench
from typing import Any

import msgspec

from benchmarks.processes import BIN, LYTICS_TOKEN, WISTIA_TOKEN
from tap_wistia import schemas

ACCOUNT_END = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
ACCOUNT_END_TEXT = "2025-10-01T00:00:00"
NO_LIMIT = 100_000  # the tap's highest request budget: "no limit" against a sandbox without one


def tap_config(url: str, days: int, **extra: Any) -> dict[str, Any]:
    """Read the whole account: every day it spans, as a backfill that ends."""
    first = (ACCOUNT_END - dt.timedelta(days=days + 1)).date()
    return {
        "api_token": WISTIA_TOKEN,
        "api_url": url,
        "start_date": first.isoformat(),
        "end_date": ACCOUNT_END.date().isoformat(),
        "keep_updated": False,
        **extra,
    }


def target_config(url: str, **extra: Any) -> dict[str, Any]:
    return {"api_token": LYTICS_TOKEN, "api_url": url, **extra}


_catalog_cache: dict[str, Any] = {}


def catalog(workdir: Path, streams: set[str]) -> dict[str, Any]:
    """The tap's discovered catalog with only `streams` selected."""
    if not _catalog_cache:
        config = workdir / "discover.json"
        config.write_text(json.dumps({"api_token": WISTIA_TOKEN}))
        found = subprocess.run(
            [str(BIN / "tap-wistia"), "--config", str(config), "--discover"],
            capture_output=True,
            check=True,
        )
        _catalog_cache.update(json.loads(found.stdout))
    chosen = copy.deepcopy(_catalog_cache)
    for entry in chosen["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return chosen


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


CITIES = [
    ("US", "Washington", "Seattle", 47.6, -122.3),
    ("BR", "São Paulo", "São Paulo", -23.5, -46.6),
    ("CH", "Zürich", "Zürich", 47.4, 8.5),
    ("JP", "Tokyo", "東京", 35.7, 139.7),
    ("FR", "Auvergne-Rhône-Alpes", "Lyon", 45.8, 4.8),
    ("US", "Texas", "Austin", 30.3, -97.7),
]
BROWSERS = [
    {"browser": "Chrome", "browser_version": "129", "platform": "mac", "mobile": False},
    {"browser": "Safari", "browser_version": "18", "platform": "iphone", "mobile": True},
    {"browser": "Firefox", "browser_version": "131", "platform": "windows", "mobile": False},
]


def activity_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """`wistia_activity` records shaped like the tap's: a third of the visitors converted."""
    rng = random.Random(seed)
    visitors = [f"{rng.getrandbits(160):040x}" for _ in range(max(1, count // 4))]
    medias = [(f"{n:010x}", f"Webinar {n}: ünïcode 🎬", 60.0 + 37 * n) for n in range(40)]
    start = ACCOUNT_END - dt.timedelta(days=30)
    records = []
    for number in range(count):
        visitor = rng.choice(visitors)
        media_id, media_name, duration = rng.choice(medias)
        country, region, city, lat, lon = rng.choice(CITIES)
        began = start + dt.timedelta(seconds=number * 30 * 86400 / count)
        ended = began + dt.timedelta(seconds=rng.randrange(1, 3600))
        percent = round(rng.random(), 4)
        converted = int(visitor[:2], 16) < 85  # a stable third of the visitors
        records.append(
            {
                "session_id": f"{rng.getrandbits(40)}e0.{rng.getrandbits(50)}",
                "visitor_key": visitor,
                "media_id": media_id,
                "media_name": media_name,
                "media_duration": duration,
                "percent_viewed": percent,
                "duration_viewed": round(percent * duration * rng.uniform(1, 2), 3),
                "started_at": began.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "event_count": rng.randint(1, 6),
                "country": country,
                "region": region,
                "city": city,
                "org": "Example Org",
                "lat": lat,
                "lon": lon,
                "ip": f"203.0.113.{rng.randrange(256)}",
                "embed_url": f"https://example.com/page/{rng.randrange(50)}",
                "user_agent_details": rng.choice(BROWSERS),
                "email": f"{visitor[:8]}@example.com" if converted else None,
                "first_name": "Ana" if converted else None,
                "last_name": "Lima" if converted else None,
                "conversion_type": "pre-roll" if converted else None,
            }
        )
    return records


def write_activity_file(path: Path, count: int, *, state_every: int = 10_000) -> Path:
    """A Singer file as the tap writes it: SCHEMA, RECORDs, a STATE every `state_every`."""
    encode = msgspec.json.Encoder().encode
    schema = {
        "type": "SCHEMA",
        "stream": "wistia_activity",
        "schema": schemas.ACTIVITY,
        "key_properties": ["session_id"],
        "bookmark_properties": ["ended_at"],
    }
    extracted = ACCOUNT_END.isoformat()
    with path.open("wb") as out:
        out.write(encode(schema) + b"\n")
        chunk = 50_000
        for offset in range(0, count, chunk):
            records = activity_records(min(chunk, count - offset), seed=offset + 1)
            for number, record in enumerate(records, start=offset + 1):
                message = {
                    "type": "RECORD",
                    "stream": "wistia_activity",
                    "record": record,
                    "time_extracted": extracted,
                }
                out.write(encode(message) + b"\n")
                if number % state_every == 0 or number == count:
                    bookmark = {"replication_key_value": record["ended_at"]}
                    state = {"bookmarks": {"wistia_activity": bookmark}, "records": number}
                    out.write(encode({"type": "STATE", "value": state}) + b"\n")
    return path


@dataclass(frozen=True)
class Sizes:
    """How much each figure reads: the issues' sizes, or small ones for trying (`--quick`)."""

    label: str
    saturation_events: int  # at 600 requests/min, 100 events a request: > 3 minutes when full
    tap_events: int
    target_records: int
    memory_small: int
    memory_large: int
    core_events: int
    pipeline_events: int
    days: int = 30


FULL = Sizes("full", 210_000, 200_000, 200_000, 100_000, 1_000_000, 1_000_000, 1_000_000)
QUICK = Sizes("quick", 12_000, 20_000, 20_000, 10_000, 50_000, 100_000, 20_000)


@dataclass
class Bench:
    """What every figure needs: where to put files, how big to go, what to stamp results with."""

    workdir: Path
    sizes: Sizes

    def activity_file(self, count: int) -> Path:
        """A prepared Singer file of `count` activity records (made once per run)."""
        path = self.workdir / f"activity-{count}.jsonl"
        if not path.exists():
            partial = path.with_suffix(".partial")
            write_activity_file(partial, count)
            partial.replace(path)
        return path
