#!/usr/bin/env python3
"""tap-csv-file: a tiny Singer tap that emits the rows of one CSV file as one stream.

It exists to show that target-lytics composes with taps other than tap-wistia through
``meltano run`` (``meltano.yml`` declares it as the custom extractor ``tap-csv-file``, run from
this file, no install needed). Standard library only.

Usage: ``tap_csv.py --config CONFIG.json`` where the config holds ``path`` (the CSV file, with a
header row), ``stream`` (the stream name, default: the file's name without extension) and
``key_properties`` (columns that identify a row, default: none). Every column is a string; empty
cells become null. One STATE at the end records how many rows were emitted.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator


class ConfigError(ValueError):
    """The config cannot be used; the message names the setting and the fix."""


def read_config(path: Path) -> dict[str, Any]:
    """The config file's settings, checked.

    Raises:
        ConfigError: a setting is missing or has the wrong type.
    """
    config = json.loads(path.read_text())
    source = config.get("path")
    if not isinstance(source, str) or not source.strip():
        msg = "path: set it to the CSV file to read (a header row, then one row per record)"
        raise ConfigError(msg)
    keys = config.get("key_properties") or []
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        msg = 'key_properties: a list of column names, e.g. ["email"]'
        raise ConfigError(msg)
    stream = config.get("stream") or Path(source).stem
    return {"path": Path(source), "stream": str(stream), "key_properties": keys}


def messages(rows: csv.DictReader[str], stream: str, keys: list[str]) -> Iterator[dict[str, Any]]:
    """The Singer messages for the rows: SCHEMA, one RECORD per row, then STATE."""
    columns = list(rows.fieldnames or [])
    missing = [key for key in keys if key not in columns]
    if missing:
        msg = f"key_properties: {missing} are not columns of the file (columns: {columns})"
        raise ConfigError(msg)
    properties = {name: {"type": ["string", "null"]} for name in columns}
    yield {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": keys,
    }
    count = 0
    for row in rows:
        record = {name: (value or None) for name, value in row.items() if name}
        yield {"type": "RECORD", "stream": stream, "record": record}
        count += 1
    yield {"type": "STATE", "value": {"bookmarks": {stream: {"rows_emitted": count}}}}


def run(config_path: Path, out: TextIO) -> int:
    """Emit the file; returns the exit status (1 with one clear line on a usage problem)."""
    try:
        config = read_config(config_path)
        with config["path"].open(newline="", encoding="utf-8") as handle:
            rows = csv.DictReader(handle)
            lines = (
                json.dumps(m) + "\n"
                for m in messages(rows, config["stream"], config["key_properties"])
            )
            out.writelines(lines)
    except (ConfigError, OSError, json.JSONDecodeError) as error:
        sys.stderr.write(f"tap-csv-file: {error}\n")
        return 1
    out.flush()
    return 0


def main() -> int:
    """Command line: ``--config PATH`` (other Singer options are accepted and ignored)."""
    parser = argparse.ArgumentParser(prog="tap-csv-file", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="JSON settings file")
    parser.add_argument("--state", type=Path, help="ignored: every run emits the whole file")
    parser.add_argument("--catalog", type=Path, help="ignored: the file is one stream")
    args = parser.parse_args()
    return run(args.config, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
