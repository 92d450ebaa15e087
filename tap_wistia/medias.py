"""Medias: one record for v1 and the current API, and which medias have a time to watch.

Both APIs describe a media alike, except where it is filed: v1 says `project`, the current API
`folder` (with `subfolder`). The `wistia_medias` record says `folder`, as the current API does,
with v1's project mapped onto it; `tags` are `[{"name": ...}]` in both (bare tag names, seen in
older data, are turned into that form). Fields a pagination or an embed needs (`cursor`,
`embedCode`, `assets`) are left out.

`duration` is seconds for video and audio only: for a document it is the page count, and images
have none. So only a media that plays has a playing time (`playing_seconds`); a session on any
other media gets no time viewed, as for a media of unknown duration.

`media_record`, `playing_seconds` and `media_durations` are pure; `read_medias` pages through
the list over the run's client (page numbers in v1, cursors in the current API).

Archived medias keep their events, so they need their duration too. Both APIs document
`archived=true` (only archived medias) and `archived=false` (only active ones); what the list
holds without it is not documented. So the list is read twice, active then archived, and a
media listed by both (a server that ignores the parameter) is kept once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tap_wistia.lists import pages

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Mapping

    from tap_wistia.api_versions import ApiVersion

PLAYING_TYPES = frozenset({"video", "audio"})
"""Media types whose `duration` is seconds (compared case-insensitively); Wistia's enum spells
them `Video` and `Audio` in both APIs, next to `Image`, `PdfDocument`,
`MicrosoftOfficeDocument`, `Swf` and `UnknownType`."""
_PLAIN_FIELDS = ("id", "name", "type", "duration", "created", "updated", "status", "archived")


def media_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `wistia_medias` record of a media as either API serves it."""
    record: dict[str, Any] = {"hashed_id": raw.get("hashed_id")}
    for name in _PLAIN_FIELDS:
        record[name] = raw.get(name)
    folder = raw.get("folder")
    record["folder"] = _filing(folder if isinstance(folder, dict) else raw.get("project"))
    record["subfolder"] = _filing(raw.get("subfolder"))
    thumbnail = raw.get("thumbnail")
    record["thumbnail"] = thumbnail if isinstance(thumbnail, dict) else None
    record["tags"] = _tags(raw.get("tags"))
    return record


def _filing(value: object) -> dict[str, Any] | None:
    """A folder, subfolder or v1 project as `{id, name, hashed_id}`.

    Wistia writes the hashed id `hashedId` in folders and v1 projects (its OpenAPI specs) and
    `hashed_id` in subfolders and some v1 answers: either is read.
    """
    if not isinstance(value, dict):
        return None
    hashed = value.get("hashed_id", value.get("hashedId"))
    return {"id": value.get("id"), "name": value.get("name"), "hashed_id": hashed}


def _tags(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    tags = []
    for tag in value:
        if isinstance(tag, dict):
            tags.append({"name": tag.get("name")})
        elif isinstance(tag, str):
            tags.append({"name": tag})
    return tags


def playing_seconds(media: Mapping[str, Any]) -> float | None:
    """A media's length in seconds, or None when it does not play or its length is unknown.

    A document's `duration` counts pages and an image has none: neither is a time.
    """
    kind = media.get("type")
    if not isinstance(kind, str) or kind.casefold() not in PLAYING_TYPES:
        return None
    value = media.get("duration")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def media_durations(medias: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Seconds per hashed media id, None for medias without a playing time."""
    return {str(media.get("hashed_id")): playing_seconds(media) for media in medias}


def read_medias(
    get: Callable[[str, Mapping[str, Any]], Any],
    version: ApiVersion,
    wanted: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Every media of the account as records (only `wanted` hashed ids when given).

    `get(path, params)` is the run's client. v1 pages by number; the current API by cursor
    (`cursor[enabled]=1`, then `cursor[after]=` the last record's `cursor`), sorted by
    creation, the one order both paginations offer. A short page ends the list. Active medias
    come first, then archived ones; each media once.
    """
    records: dict[object, dict[str, Any]] = {}
    for archived in ("false", "true"):
        params = {"sort_by": "created", "sort_direction": 1, "archived": archived}
        path = version.medias_path
        for page in pages(get, path, params, cursor=version.current, what="media"):
            for raw in page:
                hashed_id = raw.get("hashed_id") if isinstance(raw, dict) else None
                named = isinstance(hashed_id, str)
                if not isinstance(raw, dict) or (wanted and not (named and hashed_id in wanted)):
                    continue
                key = hashed_id if named else len(records)  # a media without an id: kept apart
                records.setdefault(key, media_record(raw))
    return list(records.values())
