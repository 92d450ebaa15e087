"""Wistia's aggregates as records: a media's totals, its engagement curve, and days of either.

The Stats API serves the same paths and fields in v1 (`/v1/stats/medias/{id}.json`) and in the
current API (`/modern/stats/medias/{mediaId}`), so one record fits both:

- `/stats/medias/{id}`: `load_count`, `play_count`, `play_rate`, `hours_watched`,
  `engagement`, `visitors`, `actions` (calls to action, annotations, Turnstiles);
- `/stats/medias/{id}/engagement`: `engagement` and the curves `engagement_data` and
  `rewatch_data` (one cell per second of the media, scaled down to 1,000 cells past that);
- `/stats/medias/{id}/by_date` and `/stats/account/by_date`: one item per day, `date`,
  `load_count`, `play_count`, `hours_watched`.

Each record says which media it is about (`media_id`, the hashed id the events use) and, for a
media's totals and curve, `read_at`: when the run that read it began, since a run reads only
the medias that can have changed (`tap_wistia.refresh`). The functions here are pure; which
medias and days a run asks for is `refresh` and `tap_wistia.daily`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tap_wistia.client import shaped
from tap_wistia.events import format_timestamp

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from tap_wistia.api_versions import ApiVersion

_TOTALS = ("load_count", "play_count", "play_rate", "hours_watched", "engagement", "visitors")
_CURVE = ("engagement", "engagement_data", "rewatch_data")
_DAY = ("load_count", "play_count", "hours_watched")


def media_path(version: ApiVersion, media_id: str, detail: str = "") -> str:
    """`stats/medias/{id}` and its `/engagement`, `/by_date` in the run's API."""
    return version.path(f"stats/medias/{quote(media_id, safe='')}{detail}")


def account_days_path(version: ApiVersion) -> str:
    """`stats/account/by_date` in the run's API."""
    return version.path("stats/account/by_date")


def totals_record(media_id: str, answer: object, read_at: dt.datetime) -> dict[str, Any]:
    """The `wistia_media_stats` record of one media's `/stats/medias/{id}` answer."""
    raw = shaped(answer, dict, f"stats/medias/{media_id}", "an object")
    record: dict[str, Any] = {"media_id": media_id}
    for name in _TOTALS:
        record[name] = raw.get(name)
    actions = raw.get("actions")
    record["actions"] = actions if isinstance(actions, list) else None
    record["read_at"] = format_timestamp(read_at)
    return record


def curve_record(media_id: str, answer: object, read_at: dt.datetime) -> dict[str, Any]:
    """The `wistia_media_engagement` record of one media's `/engagement` answer."""
    raw = shaped(answer, dict, f"stats/medias/{media_id}/engagement", "an object")
    record: dict[str, Any] = {"media_id": media_id}
    for name in _CURVE:
        value = raw.get(name)
        record[name] = value if name == "engagement" or isinstance(value, list) else None
    record["read_at"] = format_timestamp(read_at)
    return record


def day_records(
    answer: object, where: str, media_id: str | None = None
) -> Iterator[dict[str, Any] | None]:
    """The day records of a `by_date` answer (with `media_id` for a media's days).

    An item without a readable `date` cannot be keyed: None stands for it, for the caller to
    count. Days come in whatever order Wistia lists them (its examples show both).
    """
    for item in shaped(answer, list, where, "a list of days"):
        day = day_of(item.get("date")) if isinstance(item, dict) else None
        if day is None:
            yield None
            continue
        record: dict[str, Any] = {} if media_id is None else {"media_id": media_id}
        record["date"] = day.isoformat()
        for name in _DAY:
            record[name] = item.get(name)
        yield record


def day_of(value: object) -> dt.date | None:
    """A `date` as Wistia writes it (`2012-10-09`; a timestamp's day is taken too), or None."""
    if not isinstance(value, str) or len(value) < len("YYYY-MM-DD"):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _object(answer: object, where: str) -> Mapping[str, Any]:
    return shaped(answer, dict, where, "an object")
