"""Tags: the account's tag list, one record per tag name, the same in both APIs.

`GET /tags` (v1: `tags.json`) lists each tag with `name`, how many medias carry it
(`taggingsCount` in Wistia's spec, read as `taggings_count` too), `created` and `updated`. The
list needs the token permission "Read all data": a token with only the media permission gets a
401 naming it. It has no date filter, so the stream reads it whole, at most every
`stats_refresh_hours`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_wistia.lists import pages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from tap_wistia.api_versions import ApiVersion


def tag_record(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `wistia_tags` record of a tag; None without a name (nothing to key it by)."""
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        return None
    return {
        "name": name,
        "taggings_count": raw.get("taggingsCount", raw.get("taggings_count")),
        "created": raw.get("created"),
        "updated": raw.get("updated"),
    }


def list_tags(
    get: Callable[[str, Mapping[str, Any]], Any], version: ApiVersion
) -> Iterator[Mapping[str, Any]]:
    """Every tag as Wistia lists it (by cursor over `created` in the current API)."""
    params = {"sort_by": "created", "sort_direction": 1}
    for page in pages(get, version.path("tags"), params, cursor=version.current, what="tag"):
        yield from (raw for raw in page if isinstance(raw, dict))
