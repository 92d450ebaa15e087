"""The plugin definitions a Meltano project adds from (plugins/) stay the plugins' own.

They are made from `--about` (playground.definitions); this repository's meltano.yml declares
the same plugins from them. Meltano's own parsing, the code `meltano add --from-ref` runs, must
read each file into exactly the entry meltano.yml holds, `select` included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from meltano.core.plugin import PluginType
from meltano.core.plugin.base import PluginDefinition, Variant
from meltano.core.plugin.project_plugin import ProjectPlugin

from playground.definitions import (
    CHECKOUT_PIP_URL,
    DISTRIBUTION,
    PLUGINS,
    definition,
    definition_text,
    meltano_yml_text,
    project_entry,
)
from tests.harness import ROOT

FIX = "run `.venv/bin/python -m playground.definitions`"
SOURCES = {source.name: source for source in PLUGINS}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_definition_file_is_made_from_the_plugins_about(name):
    source = SOURCES[name]
    assert source.path.exists(), f"{source.path} is missing: {FIX}"
    assert source.path.read_text() == definition_text(source), f"{source.path} drifted: {FIX}"


def test_meltano_yml_declares_the_plugins_as_their_definitions_do():
    text = (ROOT / "meltano.yml").read_text()
    assert text == meltano_yml_text(text), f"meltano.yml's plugins drifted: {FIX}"


def as_meltano_adds(plugin_type: PluginType, made: dict[str, Any]) -> dict[str, Any]:
    """The meltano.yml entry `meltano add --from-ref` writes (meltano.cli.utils.add_plugin)."""
    parsed = PluginDefinition.parse({"plugin_type": plugin_type, **made})
    parsed.extras.clear()  # Meltano 4.4 keeps no extra of the definition itself
    attrs: dict[str, Any] = dict(parsed.canonical())
    name = attrs.pop("name")
    plugin = ProjectPlugin(plugin_type, name, **attrs, default_variant=Variant.DEFAULT_NAME)
    return json.loads(json.dumps(plugin.canonical()))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_meltano_reads_each_file_into_the_entry_meltano_yml_holds(name):
    source = SOURCES[name]
    made = yaml.safe_load(source.path.read_text())
    added = as_meltano_adds(PluginType(source.plugin_type), made)
    assert added == project_entry(made, DISTRIBUTION)
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    declared = next(p for p in project["plugins"][source.plugin_type] if p["name"] == name)
    assert declared == {**added, "pip_url": CHECKOUT_PIP_URL}


def test_a_project_added_from_the_tap_definition_selects_only_the_viewing_sessions():
    made = yaml.safe_load(SOURCES["tap-wistia"].path.read_text())
    assert as_meltano_adds(PluginType.EXTRACTORS, made)["select"] == ["wistia_activity.*"]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_setting_is_declared_with_a_kind_meltano_hands_over_intact(name):
    settings = {s["name"]: s for s in definition(SOURCES[name])["variants"][0]["settings"]}
    kinds = {s["kind"] for s in settings.values()}
    assert kinds <= {"string", "boolean", "integer", "array", "object", "options"}
    for declared in settings.values():
        assert declared["label"], declared["name"]
    if name == "target-lytics":
        assert settings["dryrun"]["kind"] == "boolean"
        assert settings["mapping"]["kind"] == "object"
        assert settings["schema_mode"]["kind"] == "options"
        assert settings["api_token"]["sensitive"] is True
        assert not {"load_method", "add_record_metadata", "faker_config"} & set(settings)
    else:
        assert settings["start_date"]["kind"] == settings["end_date"]["kind"] == "string"
        assert settings["media_ids"]["kind"] == "array"
        assert settings["api_token"]["sensitive"] is True
