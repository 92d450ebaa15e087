"""tap-wistia's settings: their JSON schema, and the checks JSON schema cannot express.

The checks run before anything is fetched, and each problem names the setting and the fix, so a
bad hourly job fails at once with a message instead of half-way through a backfill.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from singer_sdk import typing as th

from api_http.sdk_settings import FAKER_CONFIG, refusals
from api_http.transport import is_loopback_url
from tap_wistia.api_versions import (
    CURRENT_URL,
    EXAMPLE_RELEASE,
    FIRST_RELEASE,
    V1_URL,
    ApiVersion,
    api_of_url,
    is_release,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_API_URL = V1_URL
"""The base URL when neither `api_url` nor `api_version` is set."""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HASHED_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_token",
        th.StringType,
        required=True,
        secret=True,
        title="Wistia API token",
        description=(
            'A Wistia API token with the permissions "Read detailed stats" and "Read all folder '
            'and media data" (Wistia: Account > Settings > API Access), and "Read all data" for '
            "wistia_tags. Sent as a Bearer header."
        ),
    ),
    th.Property(
        "api_url",
        th.StringType,
        title="API base URL",
        description=(
            f"Wistia Data API base URL. Empty: {V1_URL}, or {CURRENT_URL} when `api_version` "
            "is set. Point it at a sandbox for local runs (plain http:// is accepted only for "
            "loopback hosts)."
        ),
    ),
    th.Property(
        "api_version",
        th.StringType,
        default="",
        title="API version",
        description=(
            "Empty: Wistia's v1 API (frozen, the default). A release of the current API, such "
            f"as {EXAMPLE_RELEASE}, reads {CURRENT_URL} and sends `X-Wistia-Api-Version: "
            "<release>` with every request. Both give the same events, sessions and visitors."
        ),
    ),
    th.Property(
        "start_date",
        th.StringType,
        title="Start date",
        description=(
            "Import activity from this day on (YYYY-MM-DD, UTC). Empty: only new activity "
            "(the first run takes the last hour)."
        ),
    ),
    th.Property(
        "end_date",
        th.StringType,
        title="End date",
        description=(
            "Import activity up to and including this day (YYYY-MM-DD, UTC). Ignored while "
            "`keep_updated` is true."
        ),
    ),
    th.Property(
        "keep_updated",
        th.BooleanType,
        default=True,
        title="Keep updated",
        description=(
            "Every run continues from the bookmark to now, ignoring `end_date`. False: import up "
            "to `end_date` (or now) and then stop producing records."
        ),
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType(minimum=0, maximum=7 * 24 * 60),
        default=60,
        title="Lookback (minutes)",
        description=(
            "How far behind the bookmark each run re-reads, to catch late and updated events."
        ),
    ),
    th.Property(
        "session_gap_minutes",
        th.IntegerType(minimum=0, maximum=24 * 60),
        default=30,
        title="Session gap (minutes)",
        description=(
            "Events of one visitor on one media at most this far apart belong to one viewing "
            "session. 0 makes every event its own session."
        ),
    ),
    th.Property(
        "media_ids",
        th.ArrayType(th.StringType),
        title="Media IDs",
        description="Only import activity on these medias (hashed ids, e.g. 993554ba94).",
    ),
    th.Property(
        "max_requests_per_minute",
        th.IntegerType(minimum=1, maximum=100_000),
        default=600,
        title="Request budget per minute",
        description=(
            "Requests per minute the whole run may make. Wistia allows 600 per account: lower "
            "it when other jobs share the token."
        ),
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1, maximum=64),
        default=8,
        title="Parallel requests",
        description="Requests in flight at once (enough to use the budget on a slow API).",
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(minimum=1, maximum=3600),
        default=60,
        title="Request timeout (seconds)",
        description="A request taking longer is abandoned and retried.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=1, maximum=100),
        default=8,
        title="Tries per request",
        description="Attempts per request on 429/5xx/timeouts/resets before the run fails.",
    ),
    th.Property(
        "max_pages_per_day",
        th.IntegerType(minimum=10, maximum=1_000_000),
        default=10_000,
        title="Pages per day at most",
        description=(
            "Pages of 100 events one day's query may take (per media with `media_ids`) before "
            "the run stops, naming the day, with no bookmark past it: a server that never ends "
            "a day cannot hold a run for hours. 10,000 pages is 1,000,000 events in a day, 17 "
            "minutes of Wistia's 600 requests a minute; raise it for a busier account."
        ),
    ),
    th.Property(
        "visitors_refresh_hours",
        th.IntegerType(minimum=0, maximum=24 * 366),
        default=24,
        title="Visitors refresh (hours)",
        description=(
            "`wistia_visitors` (when selected) is read whole, one request per 100 visitors, only "
            "when its last complete read began at least this long ago. 0 reads it every run."
        ),
    ),
    th.Property(
        "stats_refresh_hours",
        th.IntegerType(minimum=0, maximum=24 * 366),
        default=24,
        title="Statistics refresh (hours)",
        description=(
            "wistia_media_stats, wistia_media_engagement and wistia_media_daily_stats (when "
            "selected) read every media at most this often, one request per media, and between "
            "those full reads only the medias with events in the period the run read; "
            "wistia_captions and wistia_tags are read whole at most this often. 0: every run."
        ),
    ),
).to_dict()


#: The SDK's built-in settings this tap does not honour: out of `--about`, refused when set.
UNHONOURED_SDK_SETTINGS: Final = {"faker_config": FAKER_CONFIG}

#: The schema's defaults: the one place they are written down (meltano.yml is checked against it).
SETTING_DEFAULTS: Final[dict[str, Any]] = {
    name: spec["default"] for name, spec in CONFIG_SCHEMA["properties"].items() if "default" in spec
}


@dataclass(frozen=True)
class TapSettings:
    """The run's settings after validation, in the types the code uses."""

    api_url: str
    api_version: ApiVersion
    start_date: dt.date | None
    end_date: dt.date | None
    keep_updated: bool
    lookback: dt.timedelta
    session_gap: dt.timedelta
    media_ids: tuple[str, ...]
    max_requests_per_minute: int
    max_parallel_requests: int
    request_timeout: float
    max_retries: int
    visitors_refresh: dt.timedelta
    max_pages_per_day: int
    stats_refresh: dt.timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TapSettings:
        """Build settings from a config that `problems(config)` found nothing wrong with."""
        given = {key: value for key, value in config.items() if value is not None}
        values = {**SETTING_DEFAULTS, **given}
        version = ApiVersion(str(values["api_version"]).strip() or None)
        return cls(
            api_url=str(values.get("api_url") or version.default_url).rstrip("/"),
            api_version=version,
            start_date=_date(values.get("start_date")),
            end_date=_date(values.get("end_date")),
            keep_updated=bool(values["keep_updated"]),
            lookback=dt.timedelta(minutes=int(values["lookback_minutes"])),
            session_gap=dt.timedelta(minutes=int(values["session_gap_minutes"])),
            media_ids=tuple(values.get("media_ids") or ()),
            max_requests_per_minute=int(values["max_requests_per_minute"]),
            max_parallel_requests=int(values["max_parallel_requests"]),
            request_timeout=float(values["request_timeout_seconds"]),
            max_retries=int(values["max_retries"]),
            visitors_refresh=dt.timedelta(hours=int(values["visitors_refresh_hours"])),
            max_pages_per_day=int(values["max_pages_per_day"]),
            stats_refresh=dt.timedelta(hours=int(values["stats_refresh_hours"])),
        )


def _date(value: object) -> dt.date | None:
    return _parse_day(value) if value else None


def problems(config: Mapping[str, Any]) -> list[str]:
    """Everything wrong with `config` that its JSON schema cannot say, each with its fix."""
    found: list[str] = []
    token = config.get("api_token")
    if isinstance(token, str) and (not token.strip() or token != token.strip()):
        found.append(
            "api_token: the token is empty or has surrounding spaces; paste the token exactly "
            "as Wistia shows it."
        )
    found += _url_problems(config.get("api_url"))
    found += _version_problems(config.get("api_version"), config.get("api_url"))
    dates: dict[str, dt.date] = {}
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if value in (None, ""):
            continue
        parsed = _parse_day(value)
        if parsed is None:
            found.append(f"{name}: {value!r} is not a date; use YYYY-MM-DD, e.g. 2021-01-25.")
        else:
            dates[name] = parsed
    if "start_date" in dates and "end_date" in dates and dates["end_date"] < dates["start_date"]:
        found.append(
            f"end_date: {dates['end_date']} is before start_date {dates['start_date']}; "
            "set an end date on or after the start date, or leave it empty."
        )
    found += _range_problems(config)
    found += refusals(config, UNHONOURED_SDK_SETTINGS)
    found += _media_id_problems(config.get("media_ids"))
    return found


def _media_id_problems(media_ids: object) -> list[str]:
    """Ids that are no hashed id, and ids listed twice (each would read its days twice)."""
    found: list[str] = []
    listed: set[str] = set()
    for media_id in media_ids if isinstance(media_ids, list) else ():
        if not isinstance(media_id, str) or not _HASHED_ID.match(media_id):
            found.append(
                f"media_ids: {media_id!r} is not a hashed media id; use ids like 993554ba94 "
                "(the one in the media's URL), not numeric ids."
            )
        elif media_id in listed:
            found.append(f"media_ids: {media_id!r} is listed twice; list each media once.")
        else:
            listed.add(media_id)
    return found


def _url_problems(url: object) -> list[str]:
    if url in (None, ""):
        return []
    text = str(url)
    if not text.startswith(("https://", "http://")):
        return [f"api_url: {text!r} is not an http(s) URL; use e.g. {DEFAULT_API_URL}."]
    if text.startswith("http://") and not is_loopback_url(text):
        return [
            (
                "api_url: plain http is only allowed for a local sandbox (loopback host); "
                f"the token would travel unencrypted. Use https:// (e.g. {DEFAULT_API_URL})."
            )
        ]
    return []


def _version_problems(version: object, url: object) -> list[str]:
    """An `api_version` that is no release, or one that contradicts `api_url`."""
    release = str(version or "").strip()
    if release and not is_release(release):
        problem = (
            f"api_version: {version!r} is not a release of Wistia's current API; use a month "
            f"such as {EXAMPLE_RELEASE} (YYYY-MM, {FIRST_RELEASE} or later), or leave it empty "
            "for v1."
        )
        return [problem]
    api = api_of_url(str(url)) if url else None
    if release and api == "v1":
        problem = (
            f"api_url: {url} is Wistia's v1 API, but api_version {release} asks for the "
            f"current API; leave api_url empty ({CURRENT_URL} is then used) or point it at a "
            "/modern URL, or leave api_version empty to read v1."
        )
        return [problem]
    if not release and api == "modern":
        problem = (
            f"api_url: {url} is Wistia's current API, which needs a release: set api_version "
            f"(e.g. {EXAMPLE_RELEASE}), or use {V1_URL} to read v1."
        )
        return [problem]
    return []


def _range_problems(config: Mapping[str, Any]) -> list[str]:
    """Whole numbers outside the schema's bounds, each named with its range."""
    found = []
    for name, spec in CONFIG_SCHEMA["properties"].items():
        value, low, high = config.get(name), spec.get("minimum"), spec.get("maximum")
        if value is None or low is None or high is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            found.append(
                f"{name}: {value!r} is out of range; use a whole number from {low} to {high}."
            )
    return found


def _parse_day(value: object) -> dt.date | None:
    """A day as YYYY-MM-DD; Meltano's `date_iso8601` may hand over midnight as a datetime."""
    if not isinstance(value, str):
        return None
    try:
        if _DATE.match(value):
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.date() if moment.time() == dt.time(0) else None
