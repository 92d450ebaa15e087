"""Captions: each media's caption tracks, one record per media and language, both APIs alike.

`GET /medias/{mediaHashedId}/captions` (v1: `.json`) lists a media's tracks: `language` (ISO
639-2, e.g. `eng`), `english_name`, `native_name`, `text` (SRT), and in the current API `id`
(the transcript's hashed id) and `is_draft`. It is one request per media, with no date filter,
so the stream reads every media's list at most every `stats_refresh_hours`. A media deleted
between the media list and its captions (404) has none to emit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tap_wistia.client import shaped

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tap_wistia.api_versions import ApiVersion

_FIELDS = ("english_name", "native_name", "text", "is_draft", "id")


def captions_path(version: ApiVersion, media_id: str) -> str:
    """A media's caption list in the run's API."""
    return version.path(f"medias/{quote(media_id, safe='')}/captions")


def caption_records(media_id: str, answer: object) -> Iterator[dict[str, Any] | None]:
    """The `wistia_captions` records of one media's list; None for a track with no language."""
    for raw in shaped(answer, list, f"medias/{media_id}/captions", "a list of captions"):
        language = raw.get("language") if isinstance(raw, dict) else None
        if not isinstance(language, str) or not language:
            yield None
            continue
        record: dict[str, Any] = {"media_id": media_id, "language": language}
        for name in _FIELDS:
            record[name] = raw.get(name)
        yield record
