"""One sandbox account's profile schema: fields, mappings, drafts, published versions, patches.

This is Lytics' schema workflow as its own corrected documentation (agent-skills, "checked
against lio `develop` source") describes it, kept strict:

- field bodies take lowercase keys only (``id``, ``type``, ``shortdesc``, ``mergeop``,
  ``is_identifier``, ``is_pii``), directly and in a patch: capitalised ones (``Field``, ...) are
  answered ``Attribute 'Field' is required for Field``; an identifier or a ``bool`` field
  refuses a merge op; sets and maps have a ``capacity`` (0: no limit);
- a field create is an upsert, never a 409: it silently replaces a field of that name; a
  mapping create always adds one (a mapping's field must exist, its expression be LQL the
  sandbox evaluates); both land in a shared draft, whose diff ``compare`` shows;
- ``publish`` (``tag`` in kebab-case and ``description``, both required) turns the whole draft
  into a new published version; only published versions build profiles, and only from records
  collected after they were published (the version's ``marker``: the last event stored before);
- patches work on every account (the listing answers 200 everywhere); an account with
  ``enable_schema_patches`` refuses direct writes: its changes go into a patch, which ``apply``
  publishes as one version.

Pure: the caller passes the time and the marker, and persists ``to_json``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

from target_lytics.sandbox.lql import LqlError, parse_expression, parse_guard

TABLE: Final = "user"
CompareShape = Literal["grouped", "changes"]
"""How ``compare`` shows the draft's diff, which no public source shows: as groups of fields and
mappings, each with its ``edit_status``, or as a list of changes with ``before`` and ``after``.
The sandbox serves either (both readings of an undocumented answer are tested)."""
COMPARE_SHAPES: Final[tuple[CompareShape, ...]] = ("grouped", "changes")
_ACTIONS: Final = {"new": "create", "modified": "update", "deleted": "delete"}
SCALAR_TYPES: Final = ("string", "bool", "int", "number", "date")
_OPS: Final[dict[str, tuple[str, ...]]] = {
    "string": ("latest", "oldest"),
    "bool": ("latest", "oldest"),
    "int": ("latest", "oldest", "sum", "count", "min", "max"),
    "number": ("latest", "oldest", "sum", "min", "max"),
    "date": ("latest", "oldest", "min", "max"),
    "set": ("merge", "capped"),
    "map": ("merge", "latestmap", "oldestmap", "mapmax", "mapmin"),
}
#: Merge ops a body may declare: none for ``bool`` (Lytics: "Merge operation 'latest' is invalid
#: for data type 'boolean'"), which merges as its latest value.
_DECLARABLE: Final = {**_OPS, "bool": ()}
SET_TYPES: Final = ("[]string", "ts[]string", "[]time")
MAP_TYPES: Final = tuple(
    f"map[string]{kind}" for kind in ("string", "int", "number", "bool", "time", "value")
)
TYPES: Final = SCALAR_TYPES + SET_TYPES + MAP_TYPES
_FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAG: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_BOOL_NAMES: Final = {"bool": "boolean"}


class SchemaError(Exception):
    """A schema request Lytics refuses: the status and Lytics' message."""

    def __init__(self, status: int, message: str) -> None:
        """Keep the status the API answers with."""
        super().__init__(message)
        self.status = status
        self.message = message


def type_family(type_name: str) -> str:
    """``string``..``date`` as themselves; every set type ``set``; every map type ``map``."""
    if type_name in SET_TYPES:
        return "set"
    if type_name in MAP_TYPES:
        return "map"
    return type_name


def merge_op_of(definition: FieldDef) -> str:
    """The merge op a field really merges by: its own, else its type's default (Lytics')."""
    return definition.merge_op or _OPS[type_family(definition.type)][0]


@dataclass(slots=True)
class FieldDef:
    """A user field."""

    name: str
    type: str
    merge_op: str = ""
    identifier: bool = False
    pii: bool = False
    shortdesc: str = ""
    longdesc: str = ""
    created: str = ""
    modified: str = ""
    capacity: int = 0

    def to_api(self, status: str) -> dict[str, Any]:
        """The field as the read endpoints show it (lower-case keys; the name is ``id``).

        Identifiers show a server-filled merge op (``latest``), as Lytics' GET does.
        """
        shown = {
            "id": self.name,
            "type": self.type,
            "shortdesc": self.shortdesc,
            "longdesc": self.longdesc,
            "mergeop": "latest" if self.identifier else self.merge_op,
            "is_identifier": self.identifier,
            "is_pii": self.pii,
            "edit_status": status,
            "created": self.created,
            "modified": self.modified,
        }
        if type_family(self.type) in {"set", "map"}:
            shown["capacity"] = self.capacity
        return shown


@dataclass(slots=True)
class MappingDef:
    """A mapping: the user field ``field`` gets ``expr`` of records of ``stream``."""

    id: str
    field: str
    stream: str
    expr: str
    guard_expr: str = ""
    created: str = ""
    modified: str = ""

    def to_api(self, status: str) -> dict[str, Any]:
        """The mapping as the read endpoints show it."""
        return {
            "id": self.id,
            "field": self.field,
            "stream": self.stream,
            "expr": self.expr,
            "guard_expr": self.guard_expr,
            "edit_status": status,
            "created": self.created,
            "modified": self.modified,
        }


@dataclass(slots=True)
class Version:
    """A published schema: it builds profiles from events stored after ``marker``."""

    number: int
    tag: str
    description: str
    published: str
    marker: int
    fields: dict[str, FieldDef]
    mappings: dict[str, MappingDef]

    def summary(self) -> dict[str, Any]:
        """The version without its contents."""
        return {
            "version": self.number,
            "tag": self.tag,
            "description": self.description,
            "published": self.published,
            "after_event": self.marker,
            "fields": len(self.fields),
            "mappings": len(self.mappings),
        }


@dataclass(slots=True)
class Patch:
    """A named change set, applied as one published version."""

    id: str
    tag: str
    description: str
    created: str
    state: str = "draft"
    fields: dict[str, FieldDef] = field(default_factory=dict)
    mappings: dict[str, MappingDef] = field(default_factory=dict)


# --- reading request bodies --------------------------------------------------------------------


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SchemaError(400, f"{key} must be a string")
    return value.strip()


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise SchemaError(400, f"{key} must be true or false")
    return value


def _capacity(body: dict[str, Any], type_name: str) -> int:
    value = body.get("capacity", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(400, "capacity must be a whole number, 0 or more (0: no limit)")
    if value and type_family(type_name) not in {"set", "map"}:
        raise SchemaError(400, f"only set and map fields have a capacity, not {type_name}")
    return value


def field_from_body(body: dict[str, Any], *, now: str, name: str = "") -> FieldDef:
    """A field from a create or update body (lowercase keys), checked as Lytics checks it.

    A body with Lytics' old capitalised keys has no ``id`` and is refused the way Lytics
    refuses it; an update takes its name from the path (``name``), so there the old keys are
    simply not read.
    """
    given = _text(body, "id")
    if not given and not name:
        raise SchemaError(400, "Attribute 'Field' is required for Field")
    if name and given and given != name:
        raise SchemaError(400, f"Field {given!r} does not match the path ({name!r})")
    name = name or given
    if not _FIELD_NAME.fullmatch(name):
        raise SchemaError(400, f"field name {name!r}: letters, digits and _ only")
    type_name = _text(body, "type").lower()
    if type_name not in TYPES:
        raise SchemaError(400, f"Attribute 'Type' must be one of {', '.join(TYPES)}")
    merge_op = _text(body, "mergeop").lower()
    identifier = _flag(body, "is_identifier")
    if identifier and merge_op:
        raise SchemaError(400, "Identifier Field cannot define a Merge Operation.")
    if identifier and type_name not in SCALAR_TYPES:
        raise SchemaError(400, f"an identifier field must be a scalar, not {type_name}")
    allowed = _DECLARABLE[type_family(type_name)]
    if merge_op and merge_op not in allowed:
        raise SchemaError(
            400,
            f"Merge operation '{merge_op}' is invalid for data type "
            f"'{_BOOL_NAMES.get(type_name, type_name)}'."
            + (f" Valid merge operations are: [{' '.join(allowed)}]" if allowed else ""),
        )
    return FieldDef(
        name=name,
        type=type_name,
        merge_op=merge_op,
        identifier=identifier,
        pii=_flag(body, "is_pii"),
        shortdesc=_text(body, "shortdesc"),
        longdesc=_text(body, "longdesc"),
        created=now,
        modified=now,
        capacity=_capacity(body, type_name),
    )


def mapping_from_body(body: dict[str, Any], mapping_id: str, now: str) -> MappingDef:
    """A mapping from a create or update body: field, stream and expr required, LQL checked."""
    values = {key: _text(body, key) for key in ("field", "stream", "expr", "guard_expr")}
    missing = [key for key in ("field", "stream", "expr") if not values[key]]
    if missing:
        raise SchemaError(400, f"a mapping needs {', '.join(missing)} (field, stream, expr)")
    try:
        parse_expression(values["expr"])
        if values["guard_expr"]:
            parse_guard(values["guard_expr"])
    except LqlError as error:
        raise SchemaError(400, f"invalid expression: {error}") from None
    return MappingDef(mapping_id, created=now, modified=now, **values)


def _publication(body: dict[str, Any]) -> tuple[str, str]:
    tag, description = _text(body, "tag"), _text(body, "description")
    if not tag or not description:
        raise SchemaError(400, "tag and description are both required")
    if not _TAG.fullmatch(tag):
        raise SchemaError(400, f"tag {tag!r} must be kebab-case, like add-phone-identifier")
    return tag, description


def _stage_removal(draft: dict[str, Any], live: dict[str, Any], key: str) -> None:
    """A removal in the draft: of a published item, staged; of a draft-only one, forgotten."""
    if key in live:
        draft[key] = None
    else:
        draft.pop(key, None)


# --- the account's schema ----------------------------------------------------------------------


@dataclass(slots=True)
class AccountSchema:
    """Published versions, the shared draft and the patches of one account."""

    patches_enabled: bool = False
    versions: list[Version] = field(default_factory=list)
    draft_fields: dict[str, FieldDef | None] = field(default_factory=dict)
    draft_mappings: dict[str, MappingDef | None] = field(default_factory=dict)
    patches: dict[str, Patch] = field(default_factory=dict)
    idconfig: dict[str, Any] | None = None
    next_id: int = 1

    # -- views

    @property
    def live_fields(self) -> dict[str, FieldDef]:
        """The published fields."""
        return self.versions[-1].fields if self.versions else {}

    @property
    def live_mappings(self) -> dict[str, MappingDef]:
        """The published mappings."""
        return self.versions[-1].mappings if self.versions else {}

    def _status(self, live: Any, draft: Any, key: str) -> str:
        if key not in draft:
            return "unmodified"
        if draft[key] is None:
            return "deleted"
        return "new" if key not in live else "modified"

    def fields(self) -> list[dict[str, Any]]:
        """Every field of the working schema (published and draft), with its edit status."""
        live, draft = self.live_fields, self.draft_fields
        names = sorted(set(live) | set(draft))
        return [
            (draft.get(name) or live[name]).to_api(self._status(live, draft, name))
            for name in names
        ]

    def mappings(self) -> list[dict[str, Any]]:
        """Every mapping of the working schema, with its edit status."""
        live, draft = self.live_mappings, self.draft_mappings
        ids = sorted(set(live) | set(draft))
        return [(draft.get(key) or live[key]).to_api(self._status(live, draft, key)) for key in ids]

    def compare(self, shape: CompareShape = "grouped") -> dict[str, Any]:
        """The draft's diff against the published schema: everything a publish would ship."""
        groups: dict[str, list[tuple[str, str, Any, Any]]] = {"field": [], "mapping": []}
        for kind, live, draft in (
            ("field", self.live_fields, self.draft_fields),
            ("mapping", self.live_mappings, self.draft_mappings),
        ):
            for key in sorted(draft):
                status = self._status(live, draft, key)
                groups[kind].append((key, status, live.get(key), draft[key]))
        if shape == "grouped":
            return {
                f"{kind}s": [(after or before).to_api(status) for _, status, before, after in items]
                for kind, items in groups.items()
            }
        return {
            "changes": [
                {
                    "kind": kind,
                    "action": _ACTIONS[status],
                    "name": key,
                    "before": before.to_api("unmodified") if before else None,
                    "after": after.to_api(status) if after else None,
                }
                for kind, items in groups.items()
                for key, status, before, after in items
            ]
        }

    def working_field(self, name: str) -> FieldDef | None:
        """A field as the draft has it (None: absent or deleted)."""
        if name in self.draft_fields:
            return self.draft_fields[name]
        return self.live_fields.get(name)

    def _working_mappings(self) -> dict[str, MappingDef]:
        merged = {**self.live_mappings, **self.draft_mappings}
        return {key: value for key, value in merged.items() if value is not None}

    def _new_id(self) -> str:
        value = f"{self.next_id:032x}"
        self.next_id += 1
        return value

    def _direct(self) -> None:
        if self.patches_enabled:
            raise SchemaError(
                400,
                "this account has enable_schema_patches: schema changes go through a patch "
                "(POST /v2/schema/patch/user), not direct writes",
            )

    # -- direct writes

    def one_field(self, name: str) -> dict[str, Any]:
        """One field of the working schema."""
        for item in self.fields():
            if item["id"] == name:
                return item
        raise SchemaError(404, f"field {name!r} not found")

    def create_field(self, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Stage a field: an upsert, as Lytics' is (a field of that name is replaced, no 409)."""
        self._direct()
        definition = field_from_body(body, now=now)
        current = self.working_field(definition.name)
        if current is not None:
            definition.created = current.created
        self.draft_fields[definition.name] = definition
        return self.one_field(definition.name)

    def update_field(self, name: str, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Stage a field's new full definition."""
        self._direct()
        current = self.working_field(name)
        if current is None:
            raise SchemaError(404, f"field {name!r} not found")
        definition = field_from_body(body, now=now, name=name)
        definition.created = current.created
        self.draft_fields[name] = definition
        return self.one_field(name)

    def delete_field(self, name: str) -> None:
        """Stage a field's removal, with its mappings'."""
        self._direct()
        if self.working_field(name) is None:
            raise SchemaError(404, f"field {name!r} not found")
        _stage_removal(self.draft_fields, self.live_fields, name)
        for key, mapping in self._working_mappings().items():
            if mapping.field == name:
                _stage_removal(self.draft_mappings, self.live_mappings, key)

    def one_mapping(self, mapping_id: str) -> dict[str, Any]:
        """One mapping of the working schema."""
        for item in self.mappings():
            if item["id"] == mapping_id:
                return item
        raise SchemaError(404, f"mapping {mapping_id!r} not found")

    def create_mapping(self, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Stage a new mapping (its field must exist); another like it is no 409: both stay."""
        self._direct()
        mapping = mapping_from_body(body, self._new_id(), now)
        self._check_mapping(mapping, known=self.working_field)
        self.draft_mappings[mapping.id] = mapping
        return self.one_mapping(mapping.id)

    def update_mapping(self, mapping_id: str, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Stage a mapping's new definition."""
        self._direct()
        current = self._working_mappings().get(mapping_id)
        if current is None:
            raise SchemaError(404, f"mapping {mapping_id!r} not found")
        mapping = mapping_from_body(body, mapping_id, now)
        if mapping.stream != current.stream:
            raise SchemaError(400, "a mapping's stream cannot change: delete it, create another")
        mapping.created = current.created
        self._check_mapping(mapping, known=self.working_field)
        self.draft_mappings[mapping_id] = mapping
        return self.one_mapping(mapping_id)

    def delete_mapping(self, mapping_id: str) -> None:
        """Stage a mapping's removal."""
        self._direct()
        if mapping_id not in self._working_mappings():
            raise SchemaError(404, f"mapping {mapping_id!r} not found")
        _stage_removal(self.draft_mappings, self.live_mappings, mapping_id)

    @staticmethod
    def _check_mapping(mapping: MappingDef, known: Any) -> None:
        if known(mapping.field) is None:
            raise SchemaError(400, f"field {mapping.field!r} does not exist: create it first")

    def publish(self, body: dict[str, Any], marker: int, now: str) -> Version:
        """Publish the draft as a new version (tag and description required)."""
        self._direct()
        tag, description = _publication(body)
        if not self.draft_fields and not self.draft_mappings:
            raise SchemaError(400, "nothing to publish: the draft holds no changes")
        fields = {**self.live_fields, **self.draft_fields}
        mappings = {**self.live_mappings, **self.draft_mappings}
        version = self._add_version(
            tag=tag,
            description=description,
            marker=marker,
            now=now,
            fields=fields,
            mappings=mappings,
        )
        self.draft_fields, self.draft_mappings = {}, {}
        return version

    def _add_version(  # noqa: PLR0913 - a version's parts
        self,
        *,
        tag: str,
        description: str,
        marker: int,
        now: str,
        fields: dict[str, FieldDef | None],
        mappings: dict[str, MappingDef | None],
    ) -> Version:
        kept = {name: value for name, value in fields.items() if value is not None}
        version = Version(
            number=len(self.versions) + 1,
            tag=tag,
            description=description,
            published=now,
            marker=marker,
            fields=kept,
            mappings={
                key: value
                for key, value in mappings.items()
                if value is not None and value.field in kept
            },
        )
        self.versions.append(version)
        return version

    # -- patches

    def _patch(self, patch_id: str) -> Patch:
        patch = self.patches.get(patch_id)
        if patch is None:
            raise SchemaError(404, f"patch {patch_id!r} not found")
        return patch

    def _draft_patch(self, patch_id: str) -> Patch:
        patch = self._patch(patch_id)
        if patch.state != "draft":
            raise SchemaError(409, f"patch {patch_id!r} was already {patch.state}")
        return patch

    def patch_view(self, patch: Patch) -> dict[str, Any]:
        """A patch with its changes and their status against the published schema."""
        live_fields, live_mappings = self.live_fields, self.live_mappings
        return {
            "id": patch.id,
            "tag": patch.tag,
            "description": patch.description,
            "state": patch.state,
            "created": patch.created,
            "fields": [
                item.to_api("modified" if name in live_fields else "new")
                for name, item in sorted(patch.fields.items())
            ],
            "mappings": [
                item.to_api("modified" if key in live_mappings else "new")
                for key, item in sorted(patch.mappings.items())
            ],
        }

    def list_patches(self) -> list[dict[str, Any]]:
        """Every patch: 200 on every account, patches enabled or not (so it tells nothing)."""
        return [self.patch_view(patch) for _, patch in sorted(self.patches.items())]

    def get_patch(self, patch_id: str) -> dict[str, Any]:
        """One patch and its changes."""
        return self.patch_view(self._patch(patch_id))

    def create_patch(self, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Open a patch (tag and description required); patches work on every account."""
        tag, description = _publication(body)
        patch = Patch(self._new_id(), tag, description, now)
        self.patches[patch.id] = patch
        return self.patch_view(patch)

    def delete_patch(self, patch_id: str) -> None:
        """Discard a patch that was not applied."""
        self._draft_patch(patch_id)
        del self.patches[patch_id]

    def patch_field(self, patch_id: str, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Add (or change) a field in a patch: lower-case keys."""
        patch = self._draft_patch(patch_id)
        definition = field_from_body(body, now=now)
        patch.fields[definition.name] = definition
        return definition.to_api("modified" if definition.name in self.live_fields else "new")

    def patch_mapping(self, patch_id: str, body: dict[str, Any], now: str) -> dict[str, Any]:
        """Add a mapping in a patch: its field must be published or in the patch."""
        patch = self._draft_patch(patch_id)
        mapping = mapping_from_body(body, self._new_id(), now)

        def known(name: str) -> FieldDef | None:
            return patch.fields.get(name) or self.live_fields.get(name)

        self._check_mapping(mapping, known=known)
        patch.mappings[mapping.id] = mapping
        return mapping.to_api("new")

    def apply_patch(self, patch_id: str, marker: int, now: str) -> Version:
        """Publish a patch's changes as one version."""
        patch = self._draft_patch(patch_id)
        if not patch.fields and not patch.mappings:
            raise SchemaError(400, f"patch {patch_id!r} holds no changes")
        version = self._add_version(
            tag=patch.tag,
            description=patch.description,
            marker=marker,
            now=now,
            fields={**self.live_fields, **patch.fields},
            mappings={**self.live_mappings, **patch.mappings},
        )
        patch.state = "applied"
        return version

    # -- persistence

    def to_json(self) -> dict[str, Any]:
        """Everything, as plain JSON data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountSchema:
        """Back from ``to_json``."""

        def fields(raw: dict[str, Any]) -> dict[str, Any]:
            return {k: None if v is None else FieldDef(**v) for k, v in raw.items()}

        def mappings(raw: dict[str, Any]) -> dict[str, Any]:
            return {k: None if v is None else MappingDef(**v) for k, v in raw.items()}

        versions = [
            Version(
                **{
                    **v,
                    "fields": fields(v["fields"]),
                    "mappings": mappings(v["mappings"]),
                }
            )
            for v in data.get("versions", [])
        ]
        patches = {
            k: Patch(**{**p, "fields": fields(p["fields"]), "mappings": mappings(p["mappings"])})
            for k, p in data.get("patches", {}).items()
        }
        return cls(
            patches_enabled=bool(data.get("patches_enabled")),
            versions=versions,
            draft_fields=fields(data.get("draft_fields", {})),
            draft_mappings=mappings(data.get("draft_mappings", {})),
            patches=patches,
            idconfig=data.get("idconfig"),
            next_id=int(data.get("next_id", 1)),
        )

    def publish_preset(
        self, fields: list[FieldDef], mappings: list[MappingDef], tag: str, description: str
    ) -> None:
        """Start as an account some import already set up: one version, for every event."""
        self._add_version(
            tag=tag,
            description=description,
            marker=0,
            now=fields[0].created if fields else "",
            fields={item.name: item for item in fields},
            mappings={item.id: item for item in mappings},
        )
