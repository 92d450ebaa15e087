"""The sandbox's schema and stream endpoints: ``/v2/schema/user/...``, ``/v2/stream/...``.

Routes only: the rules live in ``schema`` (fields, mappings, drafts, publish, patches), the
accounts and their persistence in ``accounts``, the events in ``store``. A publish (or a patch
applied) holds the profile fold while it takes its marker, so every event is folded under the
version that was live when it arrived.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from target_lytics.sandbox.profiles import iso_time
from target_lytics.sandbox.replies import Reply, json_object, message, not_found, success
from target_lytics.sandbox.schema import TABLE, AccountSchema, SchemaError

if TYPE_CHECKING:
    from collections.abc import Callable

    from target_lytics.sandbox.accounts import AccountBook
    from target_lytics.sandbox.replies import Request
    from target_lytics.sandbox.schema import CompareShape
    from target_lytics.sandbox.store import EventStore

_IDCONFIG_MISSING = f"Could not find rank settings for table {TABLE}"
"""Lytics' own (imprecise) words for an idconfig that is not set; the 404 is what counts."""


def _now() -> str:
    return iso_time(time.time_ns() // 1_000)


def _deleted() -> Reply:
    return Reply(200, {"status": 200, "message": "deleted", "data": None})


class SchemaRoutes:
    """Answers the schema and stream endpoints for one sandbox."""

    def __init__(
        self, book: AccountBook, store: EventStore, compare_shape: CompareShape = "grouped"
    ) -> None:
        """Serve the accounts of ``book`` and the streams of ``store``."""
        self.book = book
        self.store = store
        self.compare_shape: CompareShape = compare_shape

    def reply(self, request: Request, account: str) -> Reply | None:
        """The answer, or None when the path is not a schema or stream endpoint."""
        method, path = request.method, request.path
        try:
            match path:
                case ["v2", "stream", *rest] if method == "GET":
                    return self._streams(account, rest)
                case ["v2", "schema", "patch", table, *rest] if table == TABLE:
                    return self._patches(request, account, rest)
                case ["v2", "schema", table, *rest] if table == TABLE:
                    return self._schema(request, account, rest)
        except SchemaError as error:
            return Reply(error.status, message(error.status, error.message, data=None))
        return None

    def _streams(self, account: str, rest: list[str]) -> Reply | None:
        """Stream names, and the fields their newest events hold (all streams, or one)."""
        match rest:
            case ["names"]:
                return success(sorted(self.store.stream_counts(account)))
            case ["fields"]:
                return success(
                    [
                        {"stream": stream, **item}
                        for stream in sorted(self.store.stream_counts(account))
                        for item in self.store.stream_fields(account, stream)
                    ]
                )
            case [stream, "fields"]:
                return success(self.store.stream_fields(account, stream))
        return None

    def _change(self, account: str, action: Callable[[AccountSchema], Any]) -> Any:
        return self.book.change(account, action)

    def _read(self, account: str, action: Callable[[AccountSchema], Any]) -> Any:
        return self.book.read(account, action)

    def _schema(  # noqa: PLR0911 - one return per route
        self, request: Request, account: str, rest: list[str]
    ) -> Reply:
        match request.method, rest:
            case _, ["field" | "fieldnames", *_]:
                return self._fields(request, account, rest)
            case _, ["mapping", *_]:
                return self._mappings(request, account, rest)
            case "POST", ["publish"]:
                body, now = json_object(request.body), _now()
                with self.store.publishing() as marker:
                    version = self._change(account, lambda s: s.publish(body, marker, now))
                return success(version.summary())
            case "GET", ["compare"]:
                return success(self._read(account, lambda s: s.compare(self.compare_shape)))
            case "GET", ["idconfig"]:
                idconfig = self._read(account, lambda s: s.idconfig)
                if idconfig is None:
                    return Reply(404, message(404, _IDCONFIG_MISSING, data=None))
                return success(idconfig)
        return not_found()

    def _fields(  # noqa: PLR0911 - one return per route
        self, request: Request, account: str, rest: list[str]
    ) -> Reply:
        now = _now()
        match request.method, rest:
            case "GET", ["field"]:
                return success(self._read(account, AccountSchema.fields))
            case "GET", ["fieldnames"]:
                fields = self._read(account, AccountSchema.fields)
                return success([item["id"] for item in fields if item["edit_status"] != "deleted"])
            case "POST", ["field"]:
                body = json_object(request.body)
                return success(self._change(account, lambda s: s.create_field(body, now)), 201)
            case "GET", ["field", name]:
                return success(self._read(account, lambda s: s.one_field(name)))
            case "POST", ["field", name]:
                body = json_object(request.body)
                return success(self._change(account, lambda s: s.update_field(name, body, now)))
            case "DELETE", ["field", name]:
                self._change(account, lambda s: s.delete_field(name))
                return _deleted()
        return not_found()

    def _mappings(self, request: Request, account: str, rest: list[str]) -> Reply:
        now = _now()
        match request.method, rest:
            case "GET", ["mapping"]:
                return success(self._read(account, AccountSchema.mappings))
            case "POST", ["mapping"]:
                body = json_object(request.body)
                return success(self._change(account, lambda s: s.create_mapping(body, now)), 201)
            case "GET", ["mapping", key]:
                return success(self._read(account, lambda s: s.one_mapping(key)))
            case "POST", ["mapping", key]:
                body = json_object(request.body)
                return success(self._change(account, lambda s: s.update_mapping(key, body, now)))
            case "DELETE", ["mapping", key]:
                self._change(account, lambda s: s.delete_mapping(key))
                return _deleted()
        return not_found()

    def _patches(  # noqa: PLR0911 - one return per route
        self, request: Request, account: str, rest: list[str]
    ) -> Reply:
        method, now = request.method, _now()
        match method, rest:
            case "GET", []:
                return success(self._read(account, AccountSchema.list_patches))
            case "POST", []:
                body = json_object(request.body)
                return success(self._change(account, lambda s: s.create_patch(body, now)), 201)
            case "GET", [patch]:
                return success(self._read(account, lambda s: s.get_patch(patch)))
            case "DELETE", [patch]:
                self._change(account, lambda s: s.delete_patch(patch))
                return _deleted()
            case "POST", [patch, "field"]:
                body = json_object(request.body)
                return success(
                    self._change(account, lambda s: s.patch_field(patch, body, now)), 201
                )
            case "POST", [patch, "mapping"]:
                body = json_object(request.body)
                return success(
                    self._change(account, lambda s: s.patch_mapping(patch, body, now)), 201
                )
            case "POST", [patch, "apply"]:
                with self.store.publishing() as marker:
                    version = self._change(account, lambda s: s.apply_patch(patch, marker, now))
                return success(version.summary())
        return not_found()
