"""Running the plugins the way Meltano does, for tests: in-process or as real processes."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tap_wistia.events import parse_timestamp
from tap_wistia.tap import TapWistia

if TYPE_CHECKING:
    import datetime as dt

ROOT = Path(__file__).resolve().parent.parent


def moment(text: object) -> dt.datetime:
    """A timestamp the tap wrote, as a datetime (it must be one)."""
    parsed = parse_timestamp(text)
    assert parsed is not None, f"{text!r} is not a timestamp"
    return parsed


@dataclass
class TapOutput:
    """The Singer messages of one tap run, split by kind."""

    messages: list[dict[str, Any]]
    stderr: str = ""
    returncode: int = 0
    ran: TapWistia | None = None
    error: BaseException | None = None
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    schemas: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for message in self.messages:
            kind = message["type"]
            if kind == "RECORD":
                self.records.setdefault(message["stream"], []).append(message["record"])
            elif kind == "STATE":
                self.states.append(message["value"])
            elif kind == "SCHEMA":
                self.schemas[message["stream"]] = self.schemas.get(message["stream"], 0) + 1

    @property
    def state(self) -> dict[str, Any]:
        """The last STATE message's value (the run must have written one)."""
        assert self.states, "the tap wrote no STATE message"
        return self.states[-1]

    @property
    def tap(self) -> TapWistia:
        """The tap that ran in this process (not available for a tap run as a process)."""
        assert self.ran is not None, "the tap ran as a process: only its output is known"
        return self.ran

    def of(self, stream: str) -> list[dict[str, Any]]:
        """The records of one stream."""
        return self.records.get(stream, [])


def catalog_selecting(config: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """The tap's discovered catalog with only `streams` selected."""
    catalog = copy.deepcopy(TapWistia(config=config, validate_config=False).catalog_dict)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    select: set[str] | None = None,
    expect_error: bool = False,
) -> TapOutput:
    """Run the tap in this process and collect its Singer output.

    With `expect_error`, a failing run returns what it wrote before failing (and the error).
    """
    catalog = catalog_selecting(config, select) if select is not None else None
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    error: BaseException | None = None
    tap = None
    with contextlib.redirect_stdout(out):
        try:
            tap = TapWistia(config=config, state=copy.deepcopy(state), catalog=catalog)
            tap.sync_all()
        except Exception as exc:
            if not expect_error:
                raise
            error = exc
        out.flush()
    if expect_error and error is None:
        msg = "the tap run was expected to fail but completed"
        raise AssertionError(msg)
    lines = raw.getvalue().decode().splitlines()
    return TapOutput([json.loads(line) for line in lines if line.strip()], ran=tap, error=error)


def run_tap_process(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    args: tuple[str, ...] = (),
    timeout: float = 120,
    unbuffered: bool = True,
) -> TapOutput:
    """Run `tap-wistia` as a real process (what Meltano does) and collect its output.

    `unbuffered`: with `PYTHONUNBUFFERED=1`, as container images often set it (stdout then has
    no buffer of its own and the tap keeps one); False runs it with stdout buffered.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder, "config.json")
        config_path.write_text(json.dumps(config))
        command = [sys.executable, "-m", "tap_wistia", "--config", str(config_path), *args]
        if state is not None:
            state_path = Path(folder, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return TapOutput(
        [json.loads(line) for line in lines], stderr=done.stderr, returncode=done.returncode
    )
