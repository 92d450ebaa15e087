"""What the target-lytics tests share: a Lytics sandbox, Singer input, and runs of the target.

The target runs in this process (`run_target`) or as the `target-lytics` CLI (`run_cli`,
`start_cli`), always against a `LyticsSandbox` over real HTTP (the `lytics_sandbox` fixture of
`conftest`).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import requests

from target_lytics.target import TargetLytics

if TYPE_CHECKING:
    from pathlib import Path

    from target_lytics.sandbox.server import LyticsSandbox

TOKEN = "sandbox-lytics-token"
SECRET_TOKEN = "at.k3y.s3cr3t-do-not-log"
WRONG_TOKEN = "at.wrong.token"
EXPIRED_TOKEN = "at.expired.token"
ACTIVITY_SCHEMA = {
    "type": "SCHEMA",
    "stream": "wistia_activity",
    "key_properties": ["session_id"],
    "schema": {
        "type": "object",
        "properties": {
            "session_id": {"type": "string"},
            "visitor_key": {"type": "string"},
            "media_id": {"type": "string"},
            "media_name": {"type": ["string", "null"]},
            "percent_viewed": {"type": ["number", "null"]},
            "duration_viewed": {"type": ["number", "null"]},
            "started_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": "string", "format": "date-time"},
            "country": {"type": ["string", "null"]},
            "region": {"type": ["string", "null"]},
            "city": {"type": ["string", "null"]},
            "org": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "first_name": {"type": ["string", "null"]},
            "last_name": {"type": ["string", "null"]},
        },
    },
}


def faults(sandbox: LyticsSandbox, **settings: Any) -> None:
    requests.post(f"{sandbox.url}/_sandbox/faults", json=settings, timeout=5).raise_for_status()


def stats(sandbox: LyticsSandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=5).json()


def stored(sandbox: LyticsSandbox, stream: str = "wistia_activity") -> list[dict[str, Any]]:
    url = f"{sandbox.url}/_sandbox/streams/{stream}/events"
    return requests.get(url, params={"limit": 10_000}, timeout=5).json()["events"]


def config(sandbox: LyticsSandbox, **settings: Any) -> dict[str, Any]:
    return {
        "api_token": TOKEN,
        "api_url": sandbox.url,
        "retry_backoff_seconds": 0.01,
        "request_timeout": 5,
        **settings,
    }


def session(i: int, **fields: Any) -> dict[str, Any]:
    record = {
        "session_id": f"ek-{i}",
        "visitor_key": f"vk-{i % 7}",
        "media_id": f"m-{i % 3}",
        "media_name": f"Video {i % 3}",
        "percent_viewed": 0.5,
        "duration_viewed": 30.0,
        "started_at": "2025-10-17T17:00:00.000000Z",
        "ended_at": f"2025-10-17T17:{i % 60:02d}:00.000000Z",
        "country": "US",
        "region": "Oregon",
        "city": "Portland",
        "org": "Acme",
        "email": None,
        "first_name": None,
        "last_name": None,
    }
    record.update(fields)
    return record


def singer_lines(records: list[dict[str, Any]], *, state_every: int = 0) -> str:
    lines = [json.dumps(ACTIVITY_SCHEMA)]
    for i, record in enumerate(records, start=1):
        lines.append(json.dumps({"type": "RECORD", "stream": "wistia_activity", "record": record}))
        if state_every and i % state_every == 0:
            lines.append(json.dumps({"type": "STATE", "value": {"sent": i}}))
    lines.append(json.dumps({"type": "STATE", "value": {"sent": len(records)}}))
    return "\n".join(lines) + "\n"


def run_target(cfg: dict[str, Any], text: str) -> None:
    target = TargetLytics(config=cfg)
    target.listen(io.StringIO(text))


def printed_states(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def run_cli(cfg: dict[str, Any], text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(cfg))
    return subprocess.run(
        [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_cli(cfg: dict[str, Any], folder: Path) -> subprocess.Popen[str]:
    """The `target-lytics` CLI started as Meltano starts it: input on stdin, STATE on stdout.

    Its output goes to `folder/out.jsonl` and `folder/err.log` (read them with `cli_output`).
    """
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(cfg))
    with (folder / "out.jsonl").open("wb") as out, (folder / "err.log").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "target_lytics", "--config", str(config_file)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            text=True,
        )


def cli_output(folder: Path) -> tuple[str, str]:
    """What a CLI started by `start_cli` wrote: (stdout, stderr)."""
    return (folder / "out.jsonl").read_text(), (folder / "err.log").read_text()
