"""The README stays true: its settings tables are the plugins' own, its examples parse."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from typing import TYPE_CHECKING

import pytest

from tap_wistia.tap import TapWistia
from target_lytics.mapping import map_record
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.schema import required_schema
from target_lytics.target import TargetLytics
from tests.harness import ROOT

if TYPE_CHECKING:
    from singer_sdk.plugin_base import PluginBase

README = ROOT / "README.md"


def settings_table(plugin: type[PluginBase]) -> str:
    """The settings table of `<plugin> --about --format=markdown` (the same call, in-process)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        plugin.print_about(output_format="markdown")
    section = printed.getvalue().split("## Settings", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("plugin", "cls"), [("tap-wistia", TapWistia), ("target-lytics", TargetLytics)]
)
def test_settings_tables_match_the_plugins_about(plugin, cls):
    text = README.read_text()
    begin, end = f"<!-- {plugin} settings: begin -->", f"<!-- {plugin} settings: end -->"
    pattern = re.compile(re.escape(begin) + r"\n(.*?)" + re.escape(end), re.DOTALL)
    table = settings_table(cls)
    if os.environ.get("UPDATE_README"):
        text = pattern.sub(lambda _: f"{begin}\n{table}\n{end}", text)
        README.write_text(text)
    found = pattern.search(README.read_text())
    assert found, f"README lacks the {plugin} settings markers"
    assert found.group(1).strip() == table.strip(), (
        f"README's {plugin} settings are out of date: run `UPDATE_README=1 make unit`"
    )


def test_the_readme_mapping_override_example_is_valid():
    block = README.read_text().split("Override per Singer stream", 1)[1]
    example = json.loads(block.split("```json", 1)[1].split("```", 1)[0])
    mappings = mappings_from_setting(example)
    record = {
        "session_id": "k1",
        "visitor_key": "V1",
        "media_id": "m1",
        "duration_viewed": 12.5,
        "city": "Zürich",
        "ended_at": "2026-01-01T00:00:00.000000Z",
        "conversion_data": {"company": "ACME"},
    }
    sent = map_record(mappings["wistia_activity"], record)
    assert sent["conversion_data"] == {"company": "ACME"}
    assert (sent["city"], sent["visitor_key"], sent["media_id"]) == ("Zürich", "V1", "m1")
    expressions = {m.field: m.expr for m in required_schema(mappings).mappings}
    assert expressions["wistia_media_duration"] == "map(media_id, duration_viewed)"
    assert "wistia_media_duation" not in expressions
    assert expressions["wistia_last_city"] == "city"
    assert expressions["company"] == "conversion_data.company"
    assert "wistia_events" not in mappings


def test_the_two_commands_are_documented():
    text = README.read_text()
    assert "make demo" in text
    assert "make test" in text


LAID_OUT = ("api_http", "sandbox_http", "tap_wistia", "target_lytics", "playground")


def layout_modules() -> dict[str, set[str]]:
    """Package folder -> the module files the README's "Project layout" block names in it."""
    block = README.read_text().split("## Project layout", 1)[1].split("```", 2)[1]
    named: dict[str, set[str]] = {}
    top = folder = ""
    for line in block.splitlines():
        if found := re.match(r"(\S+)/\s", line):
            top = folder = found.group(1)
        elif found := re.match(r"  (\S+)/\s", line):
            folder = f"{top}/{found.group(1)}"
        named.setdefault(folder, set()).update(re.findall(r"[\w]+\.py", line))
    return named


@pytest.mark.parametrize("package", LAID_OUT)
def test_the_project_layout_names_every_module(package):
    named = layout_modules()
    for folder in sorted({path.parent for path in (ROOT / package).rglob("*.py")}):
        relative = folder.relative_to(ROOT).as_posix()
        modules = {path.name for path in folder.glob("*.py")} - {"__init__.py"}
        if relative == package:
            modules -= {"__main__.py"}  # `python -m <plugin>`: the plugin's CLI
        assert modules <= named.get(relative, set()), (
            f"README's Project layout lacks {sorted(modules - named.get(relative, set()))} "
            f"of {relative}/"
        )
