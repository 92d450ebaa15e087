"""Lytics' schema API, as the target uses it: read fields and mappings, write what is missing.

Every call goes through `LyticsClient.call`, so it is retried like a collect (429, 5xx,
timeouts, resets, with backoff and `Retry-After`) and its refusals carry Lytics' own words.
Answers are read tolerantly, since Lytics' public material shows more than one shape: a list, or
an object holding the list (or keyed by name), keys in either case (`Field`/`field`/`id`,
`MergeOp`/`mergeop`, `IsIdentifier`/`is_identifier`), 200 or 201 on a create. What is sent
follows Lytics' documented shapes exactly: `Field`, `Type`, ... for direct writes, `id`,
`type`, ... inside a patch; no merge op for identifiers (Lytics refuses one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from target_lytics.errors import LyticsAuthError, LyticsError
from target_lytics.schema import AccountField, AccountMapping, AccountSchema
from target_lytics.stopping import worker_pool

if TYPE_CHECKING:
    from target_lytics.client import LyticsClient
    from target_lytics.schema import FieldSpec, MappingSpec

TABLE: Final = "user"
_SCHEMA: Final = f"/v2/schema/{TABLE}"
_PATCHES: Final = f"/v2/schema/patch/{TABLE}"
#: Answers to the patch listing that mean "this account publishes directly" (an error or 404,
#: per Lytics' schema skill); 401, 408, 425, 429 and 5xx are not among them (retried or fatal).
_NOT_PATCHES: Final = frozenset({400, 403, 404, 405, 406, 409, 410, 422})


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


def _keys(entry: dict[str, Any]) -> dict[str, Any]:
    """An object's keys folded to one spelling: ``MergeOp``, ``mergeop``, ``merge_op`` alike."""
    return {str(key).lower().replace("_", ""): value for key, value in entry.items()}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)


def items_of(data: Any, *collection_keys: str) -> list[dict[str, Any]]:
    """The objects of a listing: ``data`` as a list, an object holding the list, or by name.

    An object keyed by name (``{"email": {...}}``) gives its values, each knowing its name as
    ``_key``.
    """
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if not isinstance(data, dict):
        return []
    folded = _keys(data)
    for key in collection_keys:
        if isinstance(folded.get(key), list | dict):
            return items_of(folded[key])
    return [{"_key": key, **value} for key, value in data.items() if isinstance(value, dict)]


def read_field(entry: dict[str, Any]) -> AccountField | None:
    """One field of a listing (None without a name or a type)."""
    keys = _keys(entry)
    name = _text(keys.get("id")) or _text(keys.get("field")) or _text(keys.get("name"))
    name = name or _text(keys.get("key"))
    kind = _text(keys.get("type"))
    if not name or not kind:
        return None
    return AccountField(
        name=name,
        type=kind,
        merge_op=_text(keys.get("mergeop")) or None,
        identifier=_truthy(keys.get("isidentifier") or keys.get("identifier")),
        status=_text(keys.get("editstatus")).lower(),
    )


def read_mapping(entry: dict[str, Any]) -> AccountMapping | None:
    """One mapping of a listing (None without its field, stream or expression)."""
    keys = _keys(entry)
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


def patch_id_of(data: Any) -> str:
    """The id of a patch just created: ``data.id`` (or ``ID``, ``patch_id``), or ``data`` itself."""
    if isinstance(data, str | int) and not isinstance(data, bool):
        return str(data).strip()
    if isinstance(data, dict):
        keys = _keys(data)
        for key in ("id", "patchid", "uid"):
            if isinstance(keys.get(key), str | int) and str(keys[key]).strip():
                return str(keys[key]).strip()
    return ""


def direct_field_body(spec: FieldSpec) -> dict[str, Any]:
    """A field for ``POST /v2/schema/user/field`` (Lytics' capitalised keys)."""
    definition = spec.definition
    body: dict[str, Any] = {
        "Field": spec.name,
        "Type": definition.type,
        "ShortDesc": definition.description,
        "IsIdentifier": definition.identifier,
        "IsPII": definition.pii,
    }
    if definition.merge_op:
        body["MergeOp"] = definition.merge_op
    return body


def patch_field_body(spec: FieldSpec) -> dict[str, Any]:
    """A field for ``POST /v2/schema/patch/user/{id}/field`` (lower-case keys)."""
    definition = spec.definition
    body: dict[str, Any] = {
        "id": spec.name,
        "type": definition.type,
        "shortdesc": definition.description,
        "is_identifier": definition.identifier,
        "is_pii": definition.pii,
    }
    if definition.merge_op:
        body["mergeop"] = definition.merge_op
    return body


def mapping_body(spec: MappingSpec) -> dict[str, Any]:
    """A mapping for the mapping endpoints (direct or in a patch)."""
    return {"field": spec.field, "stream": spec.stream, "expr": spec.expr}


# --------------------------------------------------------------------------------------------
# The calls
# --------------------------------------------------------------------------------------------


class SchemaApi:
    """The schema endpoints of one account, over the client's retry path."""

    def __init__(self, client: LyticsClient) -> None:
        """Use ``client``'s connection, settings (``account_id``) and retries."""
        self._client = client

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        payload: Any = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> tuple[int, Any]:
        """One schema call; a refused token is reported with what the schema step needs."""
        try:
            return self._client.call(
                method, path, what=what, payload=payload, passthrough=passthrough
            )
        except LyticsAuthError as error:
            msg = f"{error}{_SCHEMA_RIGHTS}"
            raise LyticsAuthError(msg) from None

    def _data(self, method: str, path: str, what: str, payload: Any = None) -> Any:
        _, body = self._call(method, path, what, payload)
        return body.get("data") if isinstance(body, dict) else None

    def read(self) -> AccountSchema:
        """The account's user fields and mappings (published, or in the draft).

        Both listings are asked at once: a run's start waits for one round trip, not two.
        """
        with worker_pool(2, "lytics-schema") as pool:
            asked_fields = pool.submit(
                self._data, "GET", f"{_SCHEMA}/field", "reading the account's user fields"
            )
            asked_mappings = pool.submit(
                self._data, "GET", f"{_SCHEMA}/mapping", "reading the account's mappings"
            )
            fields_data, mappings_data = asked_fields.result(), asked_mappings.result()
        fields = [read_field(item) for item in items_of(fields_data, "fields")]
        mappings = [read_mapping(item) for item in items_of(mappings_data, "mappings")]
        return AccountSchema(
            fields={item.name: item for item in fields if item is not None},
            mappings=tuple(item for item in mappings if item is not None),
        )

    def uses_patches(self) -> bool:
        """Whether the account takes schema changes only through patches.

        Lytics' own rule: the patch listing answering 200 (even empty) means patches; an error
        or 404 means direct writes and a publish.
        """
        status, _ = self._call(
            "GET", _PATCHES, "asking whether the account uses schema patches",
            passthrough=_NOT_PATCHES,
        )  # fmt: skip
        return 200 <= status < 300  # noqa: PLR2004

    def field(self, name: str) -> AccountField | None:
        """One field as the account holds it now (None when it does not exist)."""
        status, body = self._call(
            "GET", f"{_SCHEMA}/field/{quote(name, safe='')}", f"reading field {name}",
            passthrough=frozenset({404}),
        )  # fmt: skip
        data = body.get("data") if isinstance(body, dict) and status < 300 else None  # noqa: PLR2004
        return read_field(data) if isinstance(data, dict) else None

    def create_field(self, spec: FieldSpec) -> bool:
        """Create a field in the draft; False when it already existed (409)."""
        status, _ = self._call(
            "POST", f"{_SCHEMA}/field", f"creating field {spec.name}",
            direct_field_body(spec), passthrough=frozenset({409}),
        )  # fmt: skip
        return status != 409  # noqa: PLR2004

    def create_mapping(self, spec: MappingSpec) -> bool:
        """Create a mapping in the draft; False when it already existed (409)."""
        status, _ = self._call(
            "POST", f"{_SCHEMA}/mapping", f"creating mapping {spec.describe()}",
            mapping_body(spec), passthrough=frozenset({409}),
        )  # fmt: skip
        return status != 409  # noqa: PLR2004

    def publish(self, tag: str, description: str) -> None:
        """Publish the draft as a new schema version."""
        self._data(
            "POST", f"{_SCHEMA}/publish", f"publishing schema version {tag}",
            {"tag": tag, "description": description},
        )  # fmt: skip

    def open_patch(self, tag: str, description: str) -> str:
        """Create a patch; returns its id.

        Raises:
            LyticsSchemaError: the answer names no patch id.
        """
        data = self._data(
            "POST", _PATCHES, f"creating schema patch {tag}",
            {"tag": tag, "description": description},
        )  # fmt: skip
        patch_id = patch_id_of(data)
        if not patch_id:
            msg = f"Lytics created schema patch {tag} but its answer names no patch id"
            raise LyticsSchemaError(msg)
        return patch_id

    def add_field(self, patch_id: str, spec: FieldSpec) -> None:
        """Add a field to a patch."""
        self._data(
            "POST", f"{_PATCHES}/{patch_id}/field", f"adding field {spec.name} to the patch",
            patch_field_body(spec),
        )  # fmt: skip

    def add_mapping(self, patch_id: str, spec: MappingSpec) -> None:
        """Add a mapping to a patch."""
        self._data(
            "POST", f"{_PATCHES}/{patch_id}/mapping",
            f"adding mapping {spec.describe()} to the patch", mapping_body(spec),
        )  # fmt: skip

    def apply_patch(self, patch_id: str) -> None:
        """Apply a patch: Lytics publishes its changes as one schema version."""
        self._data("POST", f"{_PATCHES}/{patch_id}/apply", "applying the schema patch")

    def discard_patch(self, patch_id: str) -> None:
        """Delete a patch that will not be applied (so no orphan draft patch stays behind)."""
        self._call(
            "DELETE", f"{_PATCHES}/{patch_id}", "discarding the unapplied schema patch",
            passthrough=frozenset({404}),
        )  # fmt: skip
