"""meltano.yml says what the plugins are: their capabilities, settings kinds, shipped examples."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from tests.harness import ROOT


def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "meltano.yml").read_text())


def plugin(name: str) -> dict[str, Any]:
    plugins = project()["plugins"]
    return next(p for kind in ("extractors", "loaders") for p in plugins[kind] if p["name"] == name)


@pytest.mark.e2e  # runs a process
@pytest.mark.parametrize(
    ("name", "module"), [("tap-wistia", "tap_wistia"), ("target-lytics", "target_lytics")]
)
def test_declared_capabilities_are_what_the_plugin_reports(name, module):
    about = subprocess.run(
        [sys.executable, "-m", module, "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    assert sorted(plugin(name)["capabilities"]) == sorted(json.loads(about)["capabilities"])


def test_dates_reach_the_tap_as_written():
    # Meltano's date_iso8601 rewrites a malformed date into another one before the tap sees it.
    kinds = {s["name"]: s["kind"] for s in plugin("tap-wistia")["settings"]}
    assert kinds["start_date"] == kinds["end_date"] == "string"


def test_the_csv_the_readme_loads_is_shipped():
    readme = (ROOT / "README.md").read_text()
    assert "TAP_CSV_FILE_PATH=playground/signups.csv" in readme
    header = (ROOT / "playground" / "signups.csv").read_text().splitlines()[0]
    assert header.split(",")[0] == "email"


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("tap-wistia", "tap_wistia.settings:SETTING_DEFAULTS"),
        ("target-lytics", "target_lytics.settings:SETTING_DEFAULTS"),
    ],
)
def test_meltano_yml_declares_each_default_the_plugin_has(name, defaults):
    module, attribute = defaults.split(":")
    plugin_defaults = getattr(importlib.import_module(module), attribute)
    declared = {s["name"]: s for s in plugin(name)["settings"]}
    assert set(plugin_defaults) <= set(declared), set(plugin_defaults) - set(declared)
    for setting, value in plugin_defaults.items():
        if "value" in declared[setting]:
            assert declared[setting]["value"] == value, setting
        else:
            # Left undeclared so an environment's or a project's value is not shadowed: the
            # plugin's own default applies.
            assert value in ("", None, False), (setting, value)
