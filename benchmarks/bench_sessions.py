"""Throughput and memory of the pure event and session cores (no HTTP, no Singer).

Run: `.venv/bin/python -m benchmarks.bench_sessions [events]` (default 200,000 events).
Prints µs per event for normalisation, events/s for `sessionize` (events in Wistia's order and
shuffled) and for an `ActivityBuilder` settling once per UTC day, and the bytes held per compact
event. Times are CPU times, with a reference loop to compare machines.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tap_wistia.events import EventProblems, ViewEvent, normalize_event, view_event
from tap_wistia.sessions import ActivityBuilder, sessionize

if TYPE_CHECKING:
    from collections.abc import Callable

START = datetime(2025, 10, 1, tzinfo=UTC)
DAYS = 7
GAP = timedelta(minutes=30)
CITIES = ["Seattle", "São Paulo", "Zürich", "東京", "Lyon", "Austin"]


def raw_events(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Wistia-like events in bursts, decoded from JSON so every string is its own object."""
    rng = random.Random(seed)
    medias = [f"{n:010x}" for n in range(50)]
    visitors = [f"{rng.getrandbits(160):040X}" for _ in range(max(1, count // 20))]
    events: list[dict[str, Any]] = []
    while len(events) < count:
        visitor, media = rng.choice(visitors), rng.choice(medias)
        moment = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        email = f"  {visitor[:8]}@Example.com " if rng.random() < 0.3 else None
        for _ in range(rng.randint(1, 6)):
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
            events.append(
                {
                    "event_key": f"{rng.getrandbits(40)}e0.{rng.getrandbits(50)}",
                    "received_at": stamp,
                    "visitor_key": visitor,
                    "media_id": media,
                    "media_name": f"Media {media} 🎬",
                    "media_url": f"https://home.wistia.com/medias/{media}",
                    "percent_viewed": rng.random(),
                    "embed_url": "https://example.com/page",
                    "ip": "203.0.113.9",
                    "org": "Example Org",
                    "country": "US",
                    "region": "WA",
                    "city": rng.choice(CITIES),
                    "lat": 47.6,
                    "lon": -122.3,
                    "email": email,
                    "conversion_type": "",
                    "conversion_data": {"email": email, "first_name": "Ana"} if email else {},
                    "iframe_heatmap_url": "https://example.com/heatmap",
                    "thumbnail": {"url": "https://example.com/t.jpg", "width": 200},
                    "user_agent_details": {"browser": "Chrome", "platform": "mac", "mobile": False},
                }
            )
            moment += timedelta(minutes=rng.randint(1, 20), milliseconds=rng.randrange(1000))
    return json.loads(json.dumps(events[:count]))


def best_of(runs: int, action: Callable[[], object]) -> float:
    """Least CPU time of a few runs (CPU, not wall: other processes may share the machine)."""
    times = []
    for _ in range(runs):
        gc.collect()
        began = time.process_time()
        action()
        times.append(time.process_time() - began)
    return min(times)


def compact_all(raws: list[dict[str, Any]]) -> list[ViewEvent]:
    problems = EventProblems()
    views = []
    for raw in raws:
        record = normalize_event(raw, problems)
        if record is not None:
            view = view_event(record, problems)
            if view is not None:
                views.append(view)
    return views


def compact_pages(pages: list[bytes]) -> list[ViewEvent]:
    """What the tap does per page: decode 100 events, keep their compact form, drop the rest."""
    views = []
    for page in pages:
        views += compact_all(json.loads(page))
    return views


def decode_pages(pages: list[bytes]) -> int:
    return sum(len(json.loads(page)) for page in pages)


def build_daily(views: list[ViewEvent], durations: dict[str, float | None]) -> int:
    """An ActivityBuilder fed day by day in time order, settling at each midnight."""
    builder = ActivityBuilder(durations, gap=GAP, lookback=timedelta(hours=1), carry=None)
    ordered = sorted(views, key=lambda view: view.received_at)
    emitted = 0
    midnight = START + timedelta(days=1)
    for view in ordered:
        while view.received_at >= midnight:
            emitted += len(builder.settle(midnight))
            midnight += timedelta(days=1)
        builder.add(view)
    return emitted + len(builder.finish(midnight))


def held_bytes_per_event(raws: list[dict[str, Any]]) -> float:
    """Bytes that the compact events of a run keep alive, once the raw dicts are gone."""
    copies = json.loads(json.dumps(raws))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    views = compact_all(copies)
    del copies
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / max(1, len(views))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    raws = raw_events(count)
    pages = [json.dumps(raws[n : n + 100]).encode() for n in range(0, len(raws), 100)]
    durations: dict[str, float | None] = {f"{n:010x}": 30.0 + n * 60 for n in range(45)}
    held = held_bytes_per_event(raws[:50_000])
    views = compact_all(raws)
    del raws  # the tap never holds raw events beyond a page
    newest_first = sorted(views, key=lambda view: view.received_at, reverse=True)  # API order
    shuffled = list(views)
    random.Random(2).shuffle(shuffled)

    reference = best_of(5, lambda: sum(range(10**6)))
    normalise = best_of(3, lambda: compact_pages(pages)) - best_of(3, lambda: decode_pages(pages))
    ordered = best_of(3, lambda: sessionize(newest_first, durations, GAP))
    mixed = best_of(3, lambda: sessionize(shuffled, durations, GAP))
    daily = best_of(3, lambda: build_daily(views, durations))
    sessions = sessionize(shuffled, durations, GAP)
    print(f"events: {len(views):,}  sessions: {len(sessions):,}  Python {sys.version.split()[0]}")
    print(f"machine: sum(range(10**6)) takes {reference * 1e3:.1f} ms of CPU")
    print(f"normalize_event + view_event: {normalise / count * 1e6:.2f} µs/event (pages of 100)")
    print(f"sessionize, newest first:     {len(views) / ordered:,.0f} events/s")
    print(f"sessionize, shuffled:         {len(views) / mixed:,.0f} events/s")
    print(f"ActivityBuilder, daily settle: {len(views) / daily:,.0f} events/s")
    print(f"held per compact event:       {held:,.0f} bytes")


if __name__ == "__main__":
    main()
