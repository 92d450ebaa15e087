"""The Meltano plugin definitions a project adds tap-wistia and target-lytics from.

``plugins/extractors/tap-wistia--wistia-lytics.yml`` and
``plugins/loaders/target-lytics--wistia-lytics.yml`` are made here from the plugins' own
``--about`` (each setting's name, kind, default, label, description and secrecy; the
capabilities; the required settings) and what only a Meltano project can say (namespace, the
distribution, the default selection, the Meltano version the README relies on). This
repository's ``meltano.yml`` declares the same two plugins from the same place, installing this
checkout (``pip_url: -e .``). ``python -m playground.definitions`` writes all three;
``tests/test_plugin_definitions.py`` fails when one of them drifted from the plugins.

The format is Meltano's plugin definition, as Meltano Hub's files hold it, with its one variant
under ``variants``: Meltano 4.4's ``meltano add --from-ref`` drops a flat definition's
``select`` (it clears a definition's extras) but keeps a variant's, so a project added from
these files selects ``wistia_activity`` only, as Lytics' own import, and its first run does not
send the raw ``wistia_events``/``wistia_medias`` nor read ``wistia_visitors``.

Kinds are what Meltano 4.4 hands over intact, set from ``meltano config set`` and from the
environment alike: the tap's dates stay strings (``date_iso8601`` rewrites a date it cannot
parse into another date; the tap checks them and names the mistake), and numbers are integers
(a ``decimal`` set from the environment stops Meltano with "Decimal is not JSON serializable").
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from playground import PROJECT_ROOT
from tap_wistia.tap import TapWistia
from target_lytics.target import TargetLytics

if TYPE_CHECKING:
    from pathlib import Path

    from singer_sdk.plugin_base import PluginBase

DISTRIBUTION: Final = "tap-wistia-target-lytics"
"""The Python distribution both plugins come in (the definitions' ``pip_url``)."""
VARIANT: Final = "wistia-lytics"
REQUIRES_MELTANO: Final = ">=4.4"
"""The Meltano the README's commands were run with (``--from-ref``, loaders' ``config test``)."""
CHECKOUT_PIP_URL: Final = "-e ."
"""What this repository's meltano.yml installs: the checkout itself."""
_HEADER = (
    "# Made by `python -m playground.definitions` from `{executable} --about`:\n"
    "# change the plugin, not this file. Add it to a Meltano project with\n"
    "#   meltano add --plugin-type {type} {name} --from-ref <this file or its URL>\n"
)
_KINDS: Final = {
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "number": "integer",
    "array": "array",
    "object": "object",
}


@dataclass(frozen=True)
class PluginSource:
    """One plugin: its class, Meltano plugin type, label, and what only a project says."""

    plugin: type[PluginBase]
    plugin_type: Literal["extractors", "loaders"]
    label: str
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The plugin's name, which is also its executable."""
        return self.plugin.name

    @property
    def path(self) -> Path:
        """Where its definition is kept in this repository."""
        return PROJECT_ROOT / "plugins" / self.plugin_type / f"{self.name}--{VARIANT}.yml"


LYTICS_SANDBOX_DB: Final = ".meltano/lytics-sandbox.sqlite3"
"""Where the Lytics sandbox started from a project keeps its data (git-ignored with .meltano)."""
PLUGINS: Final = (
    PluginSource(
        TapWistia,
        "extractors",
        "Wistia",
        {
            "commands": {
                "sandbox": {
                    "executable": "wistia-sandbox",
                    "args": "--port 8701",
                    "description": (
                        "A local Wistia account to try the tap on (5,000 events over the last 7 "
                        "days): api_url http://127.0.0.1:8701/v1, api_token "
                        "sandbox-wistia-token. Ctrl-C stops it."
                    ),
                },
            },
            "select": ["wistia_activity.*"],
        },
    ),
    PluginSource(
        TargetLytics,
        "loaders",
        "Lytics",
        {
            "commands": {
                "sandbox": {
                    "executable": "lytics-sandbox",
                    "args": f"--port 8702 --db {LYTICS_SANDBOX_DB}",
                    "description": (
                        "A local Lytics account set up as Lytics' own Wistia import leaves it: "
                        "api_url http://127.0.0.1:8702, api_token sandbox-lytics-token, its data "
                        f"in {LYTICS_SANDBOX_DB}. Ctrl-C stops it."
                    ),
                },
                "profiles": {
                    "executable": "lytics-sandbox",
                    "args": f"profiles --db {LYTICS_SANDBOX_DB} --limit 3",
                    "description": "Three of the profiles the local Lytics account holds.",
                },
            },
        },
    ),
)


def about(plugin: type[PluginBase]) -> dict[str, Any]:
    """What ``<plugin> --about --format=json`` prints (the same call, in this process)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        plugin.print_about(output_format="json")
    return json.loads(printed.getvalue())


def setting(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One setting as Meltano declares it, from its JSON schema in ``--about``."""
    types = spec.get("type", "string")
    kind = _KINDS[next(t for t in ([types] if isinstance(types, str) else types) if t != "null")]
    declared: dict[str, Any] = {"name": name, "kind": kind}
    if "enum" in spec:
        declared["kind"] = "options"
        declared["options"] = [{"label": value, "value": value} for value in spec["enum"]]
    default = spec.get("default")
    if default not in (None, ""):
        declared["value"] = int(default) if kind == "integer" else default
    declared["label"] = spec.get("title") or name.replace("_", " ").capitalize()
    description = " ".join(spec.get("description", "").split())
    if kind == "integer" and "number" in types:
        description += " Through Meltano: a whole number (its decimal kind fails from the env)."
    if description:
        declared["description"] = description.strip()
    if spec.get("secret"):
        declared["sensitive"] = True
    return declared


def definition(source: PluginSource) -> dict[str, Any]:
    """The plugin's Meltano definition (one variant), from its ``--about``."""
    info = about(source.plugin)
    schema = info["settings"]
    variant: dict[str, Any] = {
        "name": VARIANT,
        "pip_url": DISTRIBUTION,
        "executable": source.name,
        "requires_meltano": REQUIRES_MELTANO,
        "capabilities": info["capabilities"],
        "settings_group_validation": [schema["required"]] if schema.get("required") else [],
        "settings": [setting(name, spec) for name, spec in schema["properties"].items()],
        **source.extras,
    }
    return {
        "name": source.name,
        "namespace": source.name.replace("-", "_"),
        "label": source.label,
        "description": " ".join(info["description"].split()),
        "variants": [variant],
    }


def project_entry(made: dict[str, Any], pip_url: str) -> dict[str, Any]:
    """The plugin as ``meltano add --from-ref`` writes it into meltano.yml, with ``pip_url``."""
    variant = dict(made["variants"][0])
    entry = {key: value for key, value in made.items() if key != "variants"}
    entry["variant"] = variant.pop("name")
    return {**entry, **variant, "pip_url": pip_url}


def definition_text(source: PluginSource) -> str:
    """The definition file's text: a header saying where it comes from, then the YAML."""
    header = _HEADER.format(executable=source.name, type=source.plugin_type[:-1], name=source.name)
    return header + _yaml(definition(source))


def _yaml(value: Any) -> str:
    import yaml  # noqa: PLC0415 - a development tool's dependency (Meltano's)

    return yaml.safe_dump(value, sort_keys=False, width=100, allow_unicode=True)


def meltano_yml_text(text: str) -> str:
    """meltano.yml's text with each plugin's entry, between its markers, made anew."""
    for source in PLUGINS:
        begin, end = _markers(source)
        if begin not in text or end not in text:
            msg = f"meltano.yml lacks the lines {begin.strip()!r} and {end.strip()!r}"
            raise ValueError(msg)
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        entry = _yaml([project_entry(definition(source), CHECKOUT_PIP_URL)])
        indented = "".join(f"  {line}\n" for line in entry.splitlines())
        text = f"{before}{begin}{indented}{end}{after}"
    return text


def _markers(source: PluginSource) -> tuple[str, str]:
    note = f"made from {source.path.relative_to(PROJECT_ROOT)}, installing this checkout"
    return (
        f"  # {source.name}: begin ({note})\n",
        f"  # {source.name}: end\n",
    )


def main() -> None:
    """Write both definition files and the two entries of meltano.yml."""
    for source in PLUGINS:
        source.path.parent.mkdir(parents=True, exist_ok=True)
        source.path.write_text(definition_text(source))
        print(f"wrote {source.path.relative_to(PROJECT_ROOT)}")  # noqa: T201 - a command
    project = PROJECT_ROOT / "meltano.yml"
    project.write_text(meltano_yml_text(project.read_text()))
    print("updated meltano.yml")  # noqa: T201


if __name__ == "__main__":
    main()
