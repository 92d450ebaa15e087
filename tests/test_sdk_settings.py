"""SDK built-in settings a plugin does not honour: not in `--about`, refused when asked for."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_wistia.tap import TapWistia
from target_lytics.settings import settings_from_config
from target_lytics.target import TargetLytics


def about_settings(plugin: type[TapWistia | TargetLytics]) -> set[str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        plugin.print_about(output_format="json")
    return set(json.loads(printed.getvalue())["settings"]["properties"])


def test_about_lists_only_settings_the_plugins_honour():
    target = about_settings(TargetLytics)
    assert not {"load_method", "add_record_metadata", "faker_config"} & target
    assert {"batch_size_rows", "validate_records", "stream_maps", "flattening_enabled"} <= target
    tap = about_settings(TapWistia)
    assert "faker_config" not in tap
    assert {"stream_maps", "stream_map_config", "flattening_enabled"} <= tap


def target_problems(**settings):
    with pytest.raises(ConfigValidationError) as caught:
        settings_from_config({"api_token": "at.x.y", **settings})
    return caught.value.errors


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"load_method": "upsert"}, "load_method: Lytics' collect API only appends"),
        ({"load_method": "overwrite"}, "load_method: Lytics' collect API only appends"),
        ({"add_record_metadata": True}, "add_record_metadata: the _sdc_ metadata columns"),
        ({"faker_config": {"seed": 3}}, "faker_config: Faker is not installed"),
    ],
)
def test_the_target_refuses_what_it_would_ignore(settings, named):
    assert any(problem.startswith(named) for problem in target_problems(**settings))


@pytest.mark.parametrize(
    "settings",
    [{"load_method": "append-only"}, {"add_record_metadata": False}, {"faker_config": {}}],
)
def test_the_sdk_defaults_written_down_are_accepted(settings):
    assert settings_from_config({"api_token": "at.x.y", **settings}).schema_mode == "check"


def test_the_tap_refuses_faker_config():
    tap = TapWistia(config={"api_token": "t", "faker_config": {"seed": 1}}, validate_config=False)
    errors = tap._validate_config(raise_errors=False)
    assert any(error.startswith("faker_config: Faker is not installed") for error in errors)
