"""The Singer SDK's built-in settings a plugin does not honour: left out of `--about`, refused.

The SDK adds settings to every plugin (`load_method`, `add_record_metadata`, `faker_config`...),
and `--about` lists them, so the Meltano definitions made from it would declare them too. A
setting that is listed but does nothing misleads: `load_method: upsert` would be accepted while
Lytics' collect API only ever appends. Each plugin names the ones it does not honour and why;
they leave its `--about`, and a value that asks for something is refused before anything runs,
naming the setting. A value that asks for nothing (unset, or the SDK's own default) is accepted,
so a project that wrote the default down keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Unhonoured:
    """A built-in setting the plugin does not honour: why, and the values that ask for nothing."""

    reason: str
    harmless: tuple[Any, ...] = (None,)


FAKER_CONFIG = Unhonoured(
    "Faker is not installed with these plugins, so stream maps have no `fake`; remove "
    "faker_config (or install faker next to the plugin yourself)",
    harmless=(None, {}),
)
"""`faker_config`: the SDK uses it only where the `faker` package is installed."""


def hide(schema: dict[str, Any], unhonoured: Mapping[str, Unhonoured]) -> None:
    """Take the settings out of a plugin's settings schema (what `--about` lists)."""
    for name in unhonoured:
        schema["properties"].pop(name, None)


def refusals(config: Mapping[str, Any], unhonoured: Mapping[str, Unhonoured]) -> list[str]:
    """One problem per setting given a value that would ask for something the plugin ignores."""
    return [
        f"{name}: {rule.reason}"
        for name, rule in unhonoured.items()
        if config.get(name) not in rule.harmless
    ]
