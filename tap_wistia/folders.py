"""Folders (v1: projects) with their subfolders: one record for both APIs.

v1 lists projects (`GET /v1/projects.json`, camelCase: `hashedId`, `mediaCount`, `publicId`,
`anonymousCanUpload`...); the current API lists the same objects as folders (`GET /modern/folders`,
snake_case, cursor pagination) and, per folder, its subfolders (`GET
/modern/folders/{folderId}/subfolders`, cursor pagination by `id` only). The record is the current
API's shape, each field read under either spelling. v1 has no subfolders endpoint, so there
`subfolders` is null (not known), never an empty list (known to have none).

`folder_record` is pure; `read_folders` pages through the lists over the run's client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tap_wistia.lists import pages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from tap_wistia.api_versions import ApiVersion

    Get = Callable[[str, Mapping[str, Any]], Any]

_FIELDS = (
    ("id", "id"),
    ("hashed_id", "hashedId"),
    ("name", "name"),
    ("description", "description"),
    ("media_count", "mediaCount"),
    ("created", "created"),
    ("updated", "updated"),
    ("public", "public"),
    ("public_id", "publicId"),
    ("anonymous_can_upload", "anonymousCanUpload"),
    ("anonymous_can_download", "anonymousCanDownload"),
)
_SUBFOLDER_FIELDS = ("hashed_id", "name", "description", "position", "created", "updated")


def folders_path(version: ApiVersion) -> str:
    """`folders` in the current API, `projects.json` in v1."""
    return "folders" if version.current else "projects.json"


def subfolders_path(folder: str) -> str:
    """A folder's subfolders (current API only)."""
    return f"folders/{quote(folder, safe='')}/subfolders"


def folder_record(
    raw: Mapping[str, Any], subfolders: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """The `wistia_folders` record of a folder or v1 project, with its subfolders if known."""
    record = {name: raw.get(name, raw.get(v1_name)) for name, v1_name in _FIELDS}
    record["subfolders"] = subfolders
    return record


def subfolder_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A subfolder as the folder record holds it (its `cursor`, a paging detail, left out)."""
    return {name: raw.get(name) for name in _SUBFOLDER_FIELDS}


def list_folders(get: Get, version: ApiVersion) -> Iterator[dict[str, Any]]:
    """Every folder (v1: project) as Wistia lists it, in the order listed."""
    params = {"sort_by": "id" if version.current else "created", "sort_direction": 1}
    for page in pages(get, folders_path(version), params, cursor=version.current, what="folder"):
        yield from (raw for raw in page if isinstance(raw, dict))


def list_subfolders(get: Get, folder: str) -> list[dict[str, Any]]:
    """Every subfolder of one folder, by cursor over `id` (the only cursor order offered)."""
    path = subfolders_path(folder)
    params = {"sort_by": "id", "sort_direction": 1}
    return [
        subfolder_record(raw)
        for page in pages(get, path, params, cursor=True, what="subfolder")
        for raw in page
        if isinstance(raw, dict)
    ]
