"""The README's compiled-schema table is what the default mapping compiles to.

`UPDATE_README=1` rewrites it, like the settings tables (tests/test_readme.py).
"""

from __future__ import annotations

import os
import re

from target_lytics.mapping import dotted
from target_lytics.mapping_setting import mappings_from_setting
from tests.harness import ROOT

README = ROOT / "README.md"
BEGIN, END = "<!-- compiled schema: begin -->", "<!-- compiled schema: end -->"


def _code(*paths: str) -> str:
    return ", ".join(f"`{path}`" for path in paths)


def compiled_schema_table() -> str:
    """The default mapping of wistia_activity as a Markdown table: sent, from, user field, ..."""
    mapping = mappings_from_setting(None)["wistia_activity"]
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


def test_the_readme_shows_the_schema_the_default_mapping_compiles_to():
    pattern = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.DOTALL)
    table = compiled_schema_table()
    if os.environ.get("UPDATE_README"):
        README.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table}\n{END}", README.read_text()))
    found = pattern.search(README.read_text())
    assert found, "README lacks the compiled schema markers"
    assert found.group(1).strip() == table, (
        "README's compiled schema is out of date: run `UPDATE_README=1 make unit`"
    )
