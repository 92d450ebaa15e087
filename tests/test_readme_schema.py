"""The README's compiled-schema tables are what the default mapping compiles to, and its recipe
for the schema step alone is what the demo runs.

`UPDATE_README=1` rewrites it, like the settings tables (tests/test_readme.py).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from playground.stack import ACTIVITY_SCHEMA_ONLY
from target_lytics.mapping import dotted
from target_lytics.mapping_setting import mappings_from_setting
from tests.harness import ROOT

README = ROOT / "README.md"
STREAMS = ("wistia_activity", "wistia_visitors")


def _code(*paths: str) -> str:
    return ", ".join(f"`{path}`" for path in paths)


def markers(stream: str) -> tuple[str, str]:
    """The comments around a stream's table in the README."""
    return f"<!-- compiled schema {stream}: begin -->", f"<!-- compiled schema {stream}: end -->"


def compiled_schema_table(stream: str) -> str:
    """A stream's default mapping as a Markdown table: sent, from, user field, ..."""
    mapping = mappings_from_setting(None)[stream]
    rows = [
        "| stream field (sent) | from the tap's record | user field | type | merge | mapping |",
        "|:--|:--|:--|:--|:--|:--|",
    ]
    for name, rule in mapping.fields.items():
        sources = ", else ".join(_code(dotted(path)) for path in rule.sources)
        sent = _code(dotted(rule.stream_field))
        if rule.shape == "map":
            sources += f", key {_code(*(dotted(path) for path in rule.keys))}"
            sent += f", {_code(dotted(rule.key_field))}"
        definition = rule.definition
        merge = "**identifier**" if definition.identifier else definition.merge_op
        rows.append(
            f"| {sent} | {sources} | `{name}` | {definition.type} | {merge} | `{rule.expression}` |"
        )
    stamp = mapping.timestamp_field
    rows.append(
        f"| `{stamp}` | `{stamp}` | — | — | — | the timestamp field (`?timestamp_field={stamp}`) |"
    )
    return "\n".join(rows)


@pytest.mark.parametrize("stream", STREAMS)
def test_the_readme_shows_the_schema_the_default_mapping_compiles_to(stream):
    begin, end = markers(stream)
    pattern = re.compile(re.escape(begin) + r"\n(.*?)" + re.escape(end), re.DOTALL)
    table = compiled_schema_table(stream)
    if os.environ.get("UPDATE_README"):
        README.write_text(pattern.sub(lambda _: f"{begin}\n{table}\n{end}", README.read_text()))
    found = pattern.search(README.read_text())
    assert found, f"README lacks the compiled schema markers of {stream}"
    assert found.group(1).strip() == table, (
        "README's compiled schema is out of date: run `UPDATE_README=1 make unit`"
    )


def test_the_review_first_recipe_gives_the_schema_step_what_the_demo_gives_it():
    """The README's SCHEMA line is the one `Stack.schema_step` runs (`make demo`, e2e tests)."""
    readme = README.read_text()
    found = re.search(r"printf '%s\\n' '(\{.*\})' > activity\.schema\.jsonl", readme)
    assert found, "the README lost its review-first recipe"
    assert json.loads(found.group(1)) == ACTIVITY_SCHEMA_ONLY
