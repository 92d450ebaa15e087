"""Throughput and memory of the pure event and session cores (no HTTP, no Singer).

Run: `.venv/bin/python -m benchmarks.bench_sessions [events]` (default 200,000 events) for a
readable report: µs per event for normalisation, events/s for `sessionize` (events in Wistia's
order and shuffled) and for an `ActivityBuilder` settling once per UTC day, and the bytes held
per compact event. Times are CPU times, with a reference loop to compare machines.

`make bench` runs it as its own process with `--json sessionize N` (the events held, sessionized
in one call) and `--json daily N --days 30` (events generated day by day, each day walked
newest first by an `ActivityBuilder` swept every 100 events and settled at each midnight, as
the tap does), so the peak RSS of the second is the builder's plus one day of generated pages,
never the whole history.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_wistia.events import EventProblems, ViewEvent, normalize_event, view_event
from tap_wistia.sessions import ActivityBuilder, sessionize

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

START = datetime(2025, 10, 1, tzinfo=UTC)
DAYS = 7
GAP = timedelta(minutes=30)
CITIES = ["Seattle", "São Paulo", "Zürich", "東京", "Lyon", "Austin"]
MEDIAS = [f"{n:010x}" for n in range(50)]
DURATIONS: dict[str, float | None] = {f"{n:010x}": 30.0 + n * 60 for n in range(45)}


def _burst(rng: random.Random, visitor: str, moment: datetime) -> list[dict[str, Any]]:
    """One visitor's events on one media, minutes apart (one or more viewing sessions)."""
    media = rng.choice(MEDIAS)
    email = f"  {visitor[:8]}@Example.com " if rng.random() < 0.3 else None
    events = []
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
    return events


def raw_events(count: int, seed: int = 1, days: int = DAYS) -> list[dict[str, Any]]:
    """Wistia-like events in bursts, decoded from JSON so every string is its own object."""
    rng = random.Random(seed)
    visitors = [f"{rng.getrandbits(160):040X}" for _ in range(max(1, count // 20))]
    events: list[dict[str, Any]] = []
    while len(events) < count:
        moment = START + timedelta(seconds=rng.randrange(days * 86400))
        events += _burst(rng, rng.choice(visitors), moment)
    return json.loads(json.dumps(events[:count]))


def day_pages(count: int, days: int, seed: int = 1) -> Iterator[tuple[datetime, list[bytes]]]:
    """Each day's events as API pages of 100 (JSON, newest first), days in time order.

    Bursts start within their day and may run past midnight, as real viewing does.
    """
    rng = random.Random(seed)
    visitors = [f"{rng.getrandbits(160):040X}" for _ in range(max(1, count // 20))]
    per_day = count // days
    spill: list[dict[str, Any]] = []
    for day in range(days):
        midnight = START + timedelta(days=day)
        events, spill = spill, []  # a burst lasts two hours at most: it spills one day
        target = per_day if day < days - 1 else count - per_day * (days - 1)
        made = 0
        while made < target:
            moment = midnight + timedelta(seconds=rng.randrange(86400))
            burst = _burst(rng, rng.choice(visitors), moment)[: target - made]
            made += len(burst)
            next_midnight = _stamp(midnight + timedelta(days=1))
            events += [e for e in burst if e["received_at"] < next_midnight]
            spill += [e for e in burst if e["received_at"] >= next_midnight]
        events.sort(key=lambda event: event["received_at"], reverse=True)
        yield (
            midnight,
            [json.dumps(events[n : n + 100]).encode() for n in range(0, len(events), 100)],
        )


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


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


def measure_sessionize(count: int, days: int, runs: int) -> dict[str, Any]:
    """`sessionize` over `count` events held in memory, in Wistia's order and shuffled."""
    views: list[ViewEvent] = []
    normalise = 0.0
    for _, pages in day_pages(count, days):
        began = time.process_time()
        views += compact_pages(pages)
        normalise += time.process_time() - began
        normalise -= best_of(1, partial(decode_pages, pages))
    newest_first = sorted(views, key=lambda view: view.received_at, reverse=True)
    shuffled = list(views)
    random.Random(2).shuffle(shuffled)
    del views
    ordered = best_of(runs, lambda: sessionize(newest_first, DURATIONS, GAP))
    mixed = best_of(runs, lambda: sessionize(shuffled, DURATIONS, GAP))
    sessions = len(sessionize(shuffled, DURATIONS, GAP))
    return {
        "events": len(shuffled),
        "sessions": sessions,
        "normalize_us_per_event": normalise / len(shuffled) * 1e6,
        "sessionize_newest_first_eps": len(shuffled) / ordered,
        "sessionize_shuffled_eps": len(shuffled) / mixed,
    }


def measure_daily(count: int, days: int) -> dict[str, Any]:
    """An ActivityBuilder fed as the tap feeds it; CPU of the builder only.

    Each day is walked in Wistia's order (newest first), swept after every page of 100 and
    settled at its end.
    """
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=timedelta(hours=1), carry=None)
    spent, events, emitted, held_peak = 0.0, 0, 0, 0
    for midnight, pages in day_pages(count, days):
        views = compact_pages(pages)
        began = time.process_time()
        if midnight > START:
            emitted += len(builder.settle(midnight))
        builder.start_walk()
        for start in range(0, len(views), 100):
            for view in views[start : start + 100]:
                builder.add(view)
            held_peak = max(held_peak, builder.held_events)
            builder.sweep()
        spent += time.process_time() - began
        events += len(views)
    began = time.process_time()
    emitted += len(builder.finish(START + timedelta(days=days + 1)))
    spent += time.process_time() - began
    return {
        "events": events,
        "sessions_emitted": emitted,
        "builder_eps": events / spent,
        "held_events_peak": held_peak,
        "carry_sessions": len(builder.carry.emitted),
    }


def write_day_pages(count: int, path: Path) -> int:
    """One day of `count` events as API pages, newest first, one JSON array per line."""
    pages = 0
    with path.open("wb") as out:
        for _, day in day_pages(count, days=1):
            for page in day:
                out.write(page + b"\n")
                pages += 1
    return pages


def measure_one_day(path: Path, *, walked: bool) -> dict[str, Any]:
    """An ActivityBuilder fed one day's pages from `path`, walked newest first or held whole.

    Walked, it sweeps after every page as the tap does; held whole, it keeps the day's events
    until the settle, as the tap does once Wistia broke its order. The process's peak RSS is the
    figure: one page is read at a time, so it is the builder's memory plus the interpreter's.
    """
    builder = ActivityBuilder(DURATIONS, gap=GAP, lookback=timedelta(hours=1), carry=None)
    if walked:
        builder.start_walk(live=False)
    began = time.process_time()
    events = held_peak = 0
    with path.open("rb") as pages:
        for page in pages:
            views = compact_all(json.loads(page))
            for view in views:
                builder.add(view)
            events += len(views)
            held_peak = max(held_peak, builder.held_events)
            if walked:
                builder.sweep()
    sessions = len(builder.finish(START + timedelta(days=3)))
    return {
        "events": events,
        "sessions": sessions,
        "held_events_peak": held_peak,
        "cpu_seconds": time.process_time() - began,
    }


def report(count: int) -> None:
    """The human-readable report (the script's original output)."""
    raws = raw_events(count)
    pages = [json.dumps(raws[n : n + 100]).encode() for n in range(0, len(raws), 100)]
    held = held_bytes_per_event(raws[:50_000])
    views = compact_all(raws)
    del raws  # the tap never holds raw events beyond a page
    newest_first = sorted(views, key=lambda view: view.received_at, reverse=True)  # API order
    shuffled = list(views)
    random.Random(2).shuffle(shuffled)

    reference = best_of(5, lambda: sum(range(10**6)))
    normalise = best_of(3, lambda: compact_pages(pages)) - best_of(3, lambda: decode_pages(pages))
    ordered = best_of(3, lambda: sessionize(newest_first, DURATIONS, GAP))
    mixed = best_of(3, lambda: sessionize(shuffled, DURATIONS, GAP))
    daily = best_of(3, lambda: build_daily(views, DURATIONS))
    sessions = sessionize(shuffled, DURATIONS, GAP)
    print(f"events: {len(views):,}  sessions: {len(sessions):,}  Python {sys.version.split()[0]}")
    print(f"machine: sum(range(10**6)) takes {reference * 1e3:.1f} ms of CPU")
    print(f"normalize_event + view_event: {normalise / count * 1e6:.2f} µs/event (pages of 100)")
    print(f"sessionize, newest first:     {len(views) / ordered:,.0f} events/s")
    print(f"sessionize, shuffled:         {len(views) / mixed:,.0f} events/s")
    print(f"ActivityBuilder, daily settle: {len(views) / daily:,.0f} events/s")
    print(f"held per compact event:       {held:,.0f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--json",
        choices=("sessionize", "daily", "day-pages", "day-walked", "day-whole"),
        help="one JSON line out",
    )
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pages", type=Path, help="day-*: the file of one day's pages")
    parser.add_argument("events", type=int, nargs="?", default=200_000)
    args = parser.parse_args()
    if args.json == "day-pages":
        print(json.dumps({"pages": write_day_pages(args.events, args.pages)}))
    elif args.json in {"day-walked", "day-whole"}:
        print(json.dumps(measure_one_day(args.pages, walked=args.json == "day-walked")))
    elif args.json == "sessionize":
        print(json.dumps(measure_sessionize(args.events, args.days, args.runs)))
    elif args.json == "daily":
        print(json.dumps(measure_daily(args.events, args.days)))
    else:
        report(args.events)


if __name__ == "__main__":
    main()
