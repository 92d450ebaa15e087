"""How a sandbox account starts: empty, or as Lytics' own Wistia import leaves it.

``wistia-import`` holds the fields and mappings of the ``wistia_activity`` stream as Lytics'
integration documents them (the "Fields" table of Lytics' Wistia import): source fields on the
left, user fields on the right, ``wisita_...`` and ``..._duation`` spelt as Lytics spells them,
``email`` and ``wistia_visitor_key`` the identifiers. It is written from that table, not from
target-lytics' mapping, so a test on such an account checks the target against the documented
account rather than against itself. ``empty`` is a new account: no fields, no mappings.
"""

from __future__ import annotations

from typing import Final, Literal

from target_lytics.sandbox.definitions import FieldDef, MappingDef
from target_lytics.sandbox.schema import AccountSchema

Preset = Literal["wistia-import", "empty"]
PRESETS: Final[tuple[Preset, ...]] = ("wistia-import", "empty")
WISTIA_STREAM: Final = "wistia_activity"

# (user field, type, merge op, identifier, description, mapping expression)
_WISTIA_IMPORT: Final = (
    ("wistia_country", "string", "latest", False, "Wistia Last Viewed Country", "country"),
    ("wistia_state", "string", "latest", False, "Wistia Last Viewed State", "region"),
    ("wistia_duration_viewed", "number", "latest", False, "Wistia Last Viewed Duration",
     "duration_viewed"),
    ("wistia_media_names", "[]string", "merge", False, "Wistia Viewed Media Names",
     "set(media_name)"),
    ("last_name", "string", "latest", False, "Last Name", "conversion.last_name"),
    ("wistia_city", "string", "latest", False, "Wistia Last Viewed City", "city"),
    ("wisita_media_percent", "map[string]number", "merge", False, "Wisita Viewed Media Percent",
     "map(media_id, percent_viewed)"),
    ("first_name", "string", "latest", False, "First Name", "conversion.first_name"),
    ("wistia_org", "string", "latest", False, "Wistia Last Viewed Org", "org"),
    ("wistia_percent_viewed", "number", "latest", False, "Wistia Last Viewed Percent",
     "percent_viewed"),
    ("wisita_media_ids", "[]string", "merge", False, "Wistia Viewed Media IDs", "set(media_id)"),
    ("wistia_media_duation", "map[string]number", "merge", False, "Wistia Viewed Media Duration",
     "map(media_id, duration_viewed)"),
    ("wistia_visitor_key", "string", "", True, "Wistia Visitor Key", "visitor_key"),
    ("email", "string", "", True, "Email Address", "email(conversion_data.email)"),
)  # fmt: skip


def start_schema(preset: Preset, *, schema_patches: bool, now: str) -> AccountSchema:
    """A new account's schema for ``preset``.

    Raises:
        ValueError: ``preset`` is not one of `PRESETS`.
    """
    if preset not in PRESETS:
        msg = f"unknown account preset {preset!r}; use one of {', '.join(PRESETS)}"
        raise ValueError(msg)
    schema = AccountSchema(patches_enabled=schema_patches)
    if preset == "wistia-import":
        fields = [
            FieldDef(
                name=name,
                type=kind,
                merge_op=op,
                identifier=identifier,
                pii=name in {"email", "first_name", "last_name"},
                shortdesc=description,
                created=now,
                modified=now,
            )
            for name, kind, op, identifier, description, _ in _WISTIA_IMPORT
        ]
        mappings = [
            MappingDef(f"{n:032x}", name, WISTIA_STREAM, expr, created=now, modified=now)
            for n, (name, *_, expr) in enumerate(_WISTIA_IMPORT, start=1)
        ]
        schema.next_id = len(mappings) + 1
        schema.publish_preset(
            fields, mappings, "wistia-import", "Lytics' Wistia import: the wistia_activity stream"
        )
    return schema
