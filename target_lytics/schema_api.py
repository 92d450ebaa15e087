"""Lytics' schema API, as the target uses it: read the schema, write only what is missing.

Reads go through `LyticsClient.call` and are retried like a collect (429, 5xx, timeouts, resets,
with backoff and `Retry-After`). Writes are not: "a timed-out create may have succeeded" (Lytics'
own guidance), and a field create is an upsert, so a write whose answer is lost raises
`LyticsAnswerLostError` for the caller to read back before anything is sent again. Refusals
carry Lytics' own words (`.errors[0].message` on /v2, `.message` on /api, with the
`request_id`).

What is sent follows Lytics' corrected documentation exactly: field bodies with lowercase keys
(`id`, `type`, `shortdesc`, `mergeop`, `is_identifier`, `is_pii`) on the direct path and in a
patch alike, no merge op for identifiers or `bool` fields. Answers are read tolerantly, since
Lytics' public material shows more than one shape: a list, or an object holding the list (or
keyed by name), keys in either case (`mergeop`/`MergeOp`, `is_identifier`/`IsIdentifier`), a
draft diff (`/compare`, whose shape no public source shows) as groups of fields and mappings or
as a list of changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from target_lytics.answer import data_of, folded_keys
from target_lytics.answer import quote as quote_answer
from target_lytics.errors import LyticsAuthError, LyticsError
from target_lytics.schema import (
    AccountField,
    AccountMapping,
    AccountSchema,
    PendingChange,
)

if TYPE_CHECKING:
    from target_lytics.client import LyticsClient
    from target_lytics.schema import FieldSpec, MappingSpec

TABLE: Final = "user"
_SCHEMA: Final = f"/v2/schema/{TABLE}"
_PATCHES: Final = f"/v2/schema/patch/{TABLE}"
PATCHES_SETTING: Final = "enable_schema_patches"
_SETTING_PATH: Final = f"/api/account/setting/{PATCHES_SETTING}"
#: Answers to the setting's read that mean "this token may not read account settings".
_SETTING_REFUSED: Final = frozenset({401, 403, 404})


class LyticsSchemaError(LyticsError):
    """The schema step stops the run: what is missing or conflicting, and the fix."""


_SCHEMA_RIGHTS: Final = (
    "; the schema step needs a token that may read the account's schema (schema_mode check) "
    "and edit it (apply): use such a token, or set schema_mode to off and set the fields and "
    "mappings up in Lytics yourself"
)


# --------------------------------------------------------------------------------------------
# Reading answers (pure)
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return value is True or (isinstance(value, int) and value == 1)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def items_of(data: Any, *collection_keys: str) -> list[dict[str, Any]]:
    """The objects of a listing: ``data`` as a list, an object holding the list, or by name.

    An object keyed by name (``{"email": {...}}``) gives its values, each knowing its name as
    ``_key``.
    """
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if not isinstance(data, dict):
        return []
    folded = folded_keys(data)
    for key in collection_keys:
        if isinstance(folded.get(key), list | dict):
            return items_of(folded[key])
    return [{"_key": key, **value} for key, value in data.items() if isinstance(value, dict)]


#: Where a diff entry holds the item as it will be, and as it is (each, in Lytics' spellings).
_AFTER_KEYS: Final = ("after", "new", "draft", "proposed", "to", "value")
_BEFORE_KEYS: Final = ("before", "old", "live", "published", "from")


def _nested(keys: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any] | None:
    for name in names:
        if isinstance(keys.get(name), dict):
            return keys[name]
    return None


#: Lytics' capacity of a set or map field; its key is not shown publicly, so several spellings.
_CAPACITY_KEYS: Final = ("capacity", "cap", "maxsize", "maxitems", "keepcount")


def read_field(entry: dict[str, Any]) -> AccountField | None:
    """One field of a listing (None without a name or a type)."""
    keys = folded_keys(entry)
    name = _text(keys.get("id")) or _text(keys.get("field")) or _text(keys.get("name"))
    name = name or _text(keys.get("key"))
    kind = _text(keys.get("type"))
    if not name or not kind:
        return None
    capacity = next((_whole(keys[key]) for key in _CAPACITY_KEYS if key in keys), None)
    return AccountField(
        name=name,
        type=kind,
        merge_op=_text(keys.get("mergeop")) or None,
        identifier=_truthy(keys.get("isidentifier") or keys.get("identifier")),
        status=_text(keys.get("editstatus")).lower(),
        capacity=capacity,
    )


def read_mapping(entry: dict[str, Any]) -> AccountMapping | None:
    """One mapping of a listing (None without its field, stream or expression)."""
    keys = folded_keys(entry)
    field, stream, expr = (_text(keys.get(key)) for key in ("field", "stream", "expr"))
    if not (field and stream and expr):
        return None
    return AccountMapping(
        field=field,
        stream=stream,
        expr=expr,
        guard_expr=_text(keys.get("guardexpr")) or _text(keys.get("guard")),
        status=_text(keys.get("editstatus")).lower(),
    )


def read_schema(fields_data: Any, mappings_data: Any) -> AccountSchema:
    """The account's schema from its field and mapping listings."""
    fields = [read_field(item) for item in items_of(fields_data, "fields")]
    mappings = [read_mapping(item) for item in items_of(mappings_data, "mappings")]
    return AccountSchema(
        fields={item.name: item for item in fields if item is not None},
        mappings=tuple(item for item in mappings if item is not None),
    )


_KIND_KEYS: Final = ("kind", "objecttype", "object", "entity", "resource", "category")
_STATUS_KEYS: Final = ("editstatus", "status", "op", "action", "change", "changetype")


def _kind(keys: dict[str, Any], body: dict[str, Any]) -> Literal["field", "mapping"]:
    named = next((_text(keys[key]).lower() for key in _KIND_KEYS if _text(keys.get(key))), "")
    if named:
        return "mapping" if "map" in named else "field"
    return "mapping" if "expr" in folded_keys(body) else "field"


def _pending(kind: Literal["field", "mapping"] | None, entry: dict[str, Any]) -> PendingChange:
    keys = folded_keys(entry)
    after, before = _nested(keys, _AFTER_KEYS), _nested(keys, _BEFORE_KEYS)
    body = after or before or entry
    status = next((_text(keys[key]).lower() for key in _STATUS_KEYS if _text(keys.get(key))), "")
    if not status and (after or before):
        status = "modified" if after and before else "new" if after else "deleted"
    kind = kind or _kind(keys, body)
    fallback = _text(keys.get("id")) or _text(keys.get("name")) or _text(keys.get("key"))
    if kind == "field":
        item = read_field(body)
        name = item.name if item else fallback or _text(keys.get("field"))
        return PendingChange("field", name or "(unnamed)", status, field=item)
    mapping = read_mapping(body)
    name = mapping.describe() if mapping else fallback or "(unnamed)"
    return PendingChange("mapping", name, status, mapping=mapping)


def read_pending(data: Any) -> list[PendingChange]:
    """The changes of ``GET /v2/schema/user/compare``: the account's unpublished draft.

    Read as groups (``{"fields": [...], "mappings": [...]}``, each a list or keyed by name),
    as a list of changes (``{"changes": [...]}`` or a bare list, each saying its kind or
    holding an ``expr``), each item plain or as a diff (``before``/``after``, ``old``/``new``).
    """
    if isinstance(data, list):
        return [_pending(None, item) for item in data if isinstance(item, dict)]
    if not isinstance(data, dict):
        return []
    folded = folded_keys(data)
    if "fields" in folded or "mappings" in folded:
        fields = [_pending("field", item) for item in items_of(folded.get("fields"))]
        return fields + [_pending("mapping", item) for item in items_of(folded.get("mappings"))]
    for key in ("changes", "diff", "diffs", "edits", "items"):
        if key in folded:
            return read_pending(folded[key])
    return [_pending(None, item) for item in items_of(data)]


def setting_value(data: Any) -> bool:
    """``enable_schema_patches`` from its setting's ``data``: ``true`` means patches.

    The answer's ``data`` is the setting (``{"slug", "value", ...}``) or its bare value; false,
    null or unset mean direct publish.
    """
    value = folded_keys(data).get("value") if isinstance(data, dict) else data
    return _truthy(value)


def patch_id_of(data: Any) -> str:
    """The id of a patch just created: ``data.id`` (or ``ID``, ``patch_id``), or ``data`` itself."""
    if isinstance(data, str | int) and not isinstance(data, bool):
        return str(data).strip()
    if isinstance(data, dict):
        keys = folded_keys(data)
        for key in ("id", "patchid", "uid"):
            if isinstance(keys.get(key), str | int) and str(keys[key]).strip():
                return str(keys[key]).strip()
    return ""


@dataclass(frozen=True, slots=True)
class PatchView:
    """What a patch holds, as ``GET /v2/schema/patch/user/{id}`` shows it."""

    fields: frozenset[str] = frozenset()
    mappings: tuple[AccountMapping, ...] = ()
    state: str = ""
    tag: str = ""
    id: str = field(default="")


def read_patch(data: Any) -> PatchView:
    """A patch's fields (by name), mappings and state (``applied`` once applied)."""
    if not isinstance(data, dict):
        return PatchView()
    keys = folded_keys(data)
    fields = [_pending("field", item).name for item in items_of(keys.get("fields"))]
    mappings = [_pending("mapping", item).mapping for item in items_of(keys.get("mappings"))]
    return PatchView(
        fields=frozenset(fields),
        mappings=tuple(item for item in mappings if item is not None),
        state=(_text(keys.get("state")) or _text(keys.get("status"))).lower(),
        tag=_text(keys.get("tag")),
        id=patch_id_of(data),
    )


def field_body(spec: FieldSpec) -> dict[str, Any]:
    """A field for ``POST /v2/schema/user/field`` and a patch's field (Lytics' lowercase keys).

    No ``mergeop`` where Lytics refuses one (identifiers, bool): the definition has none.
    """
    definition = spec.definition
    body: dict[str, Any] = {
        "id": spec.name,
        "type": definition.type,
        "shortdesc": definition.description,
        "is_identifier": definition.identifier,
        "is_pii": definition.pii,
    }
    if definition.merge_op and not definition.identifier:
        body["mergeop"] = definition.merge_op
    return body


def mapping_body(spec: MappingSpec) -> dict[str, Any]:
    """A mapping for the mapping endpoints (direct or in a patch)."""
    return {"field": spec.field, "stream": spec.stream, "expr": spec.expr}


def settings_refused_message(account: str, said: str) -> str:
    """Why the schema step cannot tell the account's publish mode, and the fix."""
    return (
        f"target-lytics cannot read the account setting {PATCHES_SETTING} of the Lytics account "
        f"{account} ({said}): it says whether schema changes go through patches or a direct "
        "publish, and target-lytics does not guess it; nothing was changed. Fix: set "
        "schema_patches to true (the account has schema patches enabled) or false (direct "
        "publish), or use a token that may read account settings"
    )


# --------------------------------------------------------------------------------------------
# The calls
# --------------------------------------------------------------------------------------------


class SchemaApi:
    """The schema endpoints of the token's account: reads retried, writes sent once."""

    def __init__(self, client: LyticsClient) -> None:
        """Use ``client``'s connection, settings and retries."""
        self._client = client

    def _call(  # noqa: PLR0913 - one request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        what: str,
        payload: Any = None,
        *,
        passthrough: frozenset[int] = frozenset(),
        write: bool = False,
    ) -> tuple[int, Any]:
        """One schema call; a refused token is reported with what the schema step needs."""
        try:
            return self._client.call(
                method, path, what=what, payload=payload, passthrough=passthrough,
                resend=not write,
            )  # fmt: skip
        except LyticsAuthError as error:
            msg = f"{error}{_SCHEMA_RIGHTS}"
            raise LyticsAuthError(msg) from None

    def _data(self, method: str, path: str, what: str, payload: Any = None) -> Any:
        _, body = self._call(method, path, what, payload)
        return data_of(body)

    def _write(self, path: str, what: str, payload: Any = None) -> Any:
        """A POST sent once: its lost answer raises `LyticsAnswerLostError`."""
        _, body = self._call("POST", path, what, payload, write=True)
        return data_of(body)

    def read(self) -> AccountSchema:
        """The account's user fields and mappings, one listing after the other."""
        fields = self._data("GET", f"{_SCHEMA}/field", "reading the account's user fields")
        return read_schema(fields, self._mapping_listing())

    def mappings(self) -> tuple[AccountMapping, ...]:
        """The account's mappings alone (to read one back)."""
        return read_schema(None, self._mapping_listing()).mappings

    def _mapping_listing(self) -> Any:
        return self._data("GET", f"{_SCHEMA}/mapping", "reading the account's mappings")

    def patches_enabled(self, account: str) -> bool:
        """Whether the account takes schema changes through patches (its account setting).

        Raises:
            LyticsSchemaError: the token may not read the setting: the mode must come from
                the ``schema_patches`` setting.
        """
        status, body = self._call(
            "GET", _SETTING_PATH, f"reading the account setting {PATCHES_SETTING}",
            passthrough=_SETTING_REFUSED,
        )  # fmt: skip
        if status in _SETTING_REFUSED:
            raise LyticsSchemaError(settings_refused_message(account, quote_answer(status, body)))
        return setting_value(data_of(body))

    def pending(self) -> list[PendingChange]:
        """The account's unpublished draft: what a publish would ship."""
        data = self._data(
            "GET", f"{_SCHEMA}/compare",
            "reading the account's unpublished schema changes (checked before a publish)",
        )  # fmt: skip
        return read_pending(data)

    def field(self, name: str) -> AccountField | None:
        """One field as the account holds it now (None when it does not exist)."""
        status, body = self._call(
            "GET", f"{_SCHEMA}/field/{quote(name, safe='')}", f"reading field {name}",
            passthrough=frozenset({404}),
        )  # fmt: skip
        data = data_of(body) if status < 300 else None  # noqa: PLR2004
        return read_field(data) if isinstance(data, dict) else None

    def create_field(self, spec: FieldSpec) -> None:
        """Create a field in the draft (an upsert: only ever sent for an absent field)."""
        self._write(f"{_SCHEMA}/field", f"creating field {spec.name}", field_body(spec))

    def create_mapping(self, spec: MappingSpec) -> None:
        """Create a mapping in the draft."""
        self._write(f"{_SCHEMA}/mapping", f"creating mapping {spec.describe()}", mapping_body(spec))

    def publish(self, tag: str, description: str) -> None:
        """Publish the draft as a new schema version."""
        payload = {"tag": tag, "description": description}
        self._write(f"{_SCHEMA}/publish", f"publishing schema version {tag}", payload)

    def open_patch(self, tag: str, description: str) -> str:
        """Create a patch; returns its id.

        Raises:
            LyticsSchemaError: the answer names no patch id.
        """
        payload = {"tag": tag, "description": description}
        patch_id = patch_id_of(self._write(_PATCHES, f"creating schema patch {tag}", payload))
        if not patch_id:
            msg = f"Lytics created schema patch {tag} but its answer names no patch id"
            raise LyticsSchemaError(msg)
        return patch_id

    def find_patch(self, tag: str) -> str | None:
        """The id of the account's patch tagged ``tag``, if there is one."""
        listed = self._data("GET", _PATCHES, f"looking for schema patch {tag}")
        found = [read_patch(item) for item in items_of(listed, "patches")]
        return next((view.id for view in found if view.tag == tag and view.id), None)

    def patch(self, patch_id: str) -> PatchView:
        """What a patch holds now."""
        return read_patch(self._data("GET", f"{_PATCHES}/{patch_id}", "reading the schema patch"))

    def add_field(self, patch_id: str, spec: FieldSpec) -> None:
        """Add a field to a patch."""
        what = f"adding field {spec.name} to the patch"
        self._write(f"{_PATCHES}/{patch_id}/field", what, field_body(spec))

    def add_mapping(self, patch_id: str, spec: MappingSpec) -> None:
        """Add a mapping to a patch."""
        what = f"adding mapping {spec.describe()} to the patch"
        self._write(f"{_PATCHES}/{patch_id}/mapping", what, mapping_body(spec))

    def apply_patch(self, patch_id: str) -> None:
        """Apply a patch: Lytics publishes its changes as one schema version."""
        self._write(f"{_PATCHES}/{patch_id}/apply", "applying the schema patch")

    def discard_patch(self, patch_id: str) -> None:
        """Delete a patch that will not be applied (so no orphan draft patch stays behind)."""
        self._call(
            "DELETE", f"{_PATCHES}/{patch_id}", "discarding the unapplied schema patch",
            passthrough=frozenset({404}),
        )  # fmt: skip
