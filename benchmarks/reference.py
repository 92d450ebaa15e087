"""The minimal references the plugins are compared with, run as their own processes.

`reader`: plain `requests` + `json`, pulling the same pages as the tap (each day, 100 events a
page, until a short page) and printing one JSON line per event: the least work any tap must do.
`poster`: reads Singer lines, decodes them with `json`, and POSTs the records as JSON arrays of
the target's request size: the least work any target must do.

    python -m benchmarks.reference reader URL TOKEN FIRST_DAY LAST_DAY > /dev/null
    python -m benchmarks.reference poster URL TOKEN ROWS < file.jsonl
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import requests


def reader(url: str, token: str, first: str, last: str) -> int:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    count = 0
    write = sys.stdout.write
    while day <= end:
        page = 1
        while True:
            params: dict[str, str | int] = {
                "start_date": day.isoformat(),
                "end_date": day.isoformat(),
                "per_page": 100,
                "page": page,
            }
            events = json.loads(session.get(f"{url}/stats/events.json", params=params).content)
            for event in events:
                write(json.dumps(event) + "\n")
            count += len(events)
            if len(events) < 100:
                break
            page += 1
        day += dt.timedelta(days=1)
    return count


def poster(url: str, token: str, rows: int) -> int:
    session = requests.Session()
    session.headers.update({"Authorization": token, "Content-Type": "application/json"})
    batch: list[dict] = []
    count = 0

    def send() -> None:
        answer = session.post(f"{url}/collect/json/wistia_activity", data=json.dumps(batch))
        answer.raise_for_status()

    for line in sys.stdin:
        message = json.loads(line)
        if message.get("type") != "RECORD":
            continue
        batch.append(message["record"])
        if len(batch) >= rows:
            send()
            count += len(batch)
            batch = []
    if batch:
        send()
        count += len(batch)
    return count


def main() -> None:
    kind, *args = sys.argv[1:]
    if kind == "reader":
        count = reader(args[0], args[1], args[2], args[3])
    else:
        count = poster(args[0], args[1], int(args[2]))
    print(f"{kind}: {count} items", file=sys.stderr)


if __name__ == "__main__":
    main()
