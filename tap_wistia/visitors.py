"""Visitors: who a viewer is (name, email, organisation) and how much they loaded and played.

`GET /stats/visitors` has no date filter and no sort parameter, so there is no "since the last
run": a read is the whole list, one request per 100 visitors (a million visitors cost 10,000
requests, about 17 minutes of Wistia's 600 requests a minute). A run therefore reads it only when
the last complete read is older than `visitors_refresh_hours`; the time that read began is kept
in the stream's state, and is written only once the read finished, so an interrupted read leaves
the previous mark and the next run reads again.

The record keeps Wistia's fields as they are (`visitor_identity` included) and resolves the
identity next to them: `email` (trimmed, lower-cased, as the activity stream's), `name`,
`org_name` and `org_title`, None when Wistia has none. `visitor_record` and `read_due` are pure;
`read_visitors` pages through the list over the run's client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_wistia.client import WistiaError
from tap_wistia.events import format_timestamp, parse_timestamp

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator, Mapping

    from tap_wistia.api_versions import ApiVersion

PER_PAGE = 100
READ_MARK = "last_full_read_at"
"""The state key: when the last complete read of the visitor list began (UTC)."""
_PLAIN_FIELDS = (
    "created_at",
    "last_active_at",
    "last_event_key",
    "identifying_event_key",
    "load_count",
    "play_count",
)


def read_due(state: Mapping[str, Any], now: dt.datetime, refresh: dt.timedelta) -> bool:
    """Whether a run at `now` reads the visitors: never read whole, or read `refresh` ago."""
    last = parse_timestamp(state.get(READ_MARK))
    return last is None or now - last >= refresh


def mark_read(state: dict[str, Any], started: dt.datetime) -> None:
    """Record a complete read that began at `started` (call only once its last page is out)."""
    state[READ_MARK] = format_timestamp(started)


def visitor_record(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `wistia_visitors` record of a visitor; None without a visitor_key (no identity)."""
    key = raw.get("visitor_key")
    if not isinstance(key, str) or not key.strip():
        return None
    record: dict[str, Any] = {"visitor_key": key}
    for name in _PLAIN_FIELDS:
        record[name] = raw.get(name)
    identity = raw.get("visitor_identity")
    identity = identity if isinstance(identity, dict) else {}
    org = identity.get("org")
    org = org if isinstance(org, dict) else {}
    record["visitor_identity"] = raw.get("visitor_identity") if identity else None
    agent = raw.get("user_agent_details")
    record["user_agent_details"] = agent if isinstance(agent, dict) else None
    email = identity.get("email")
    record["email"] = (email.strip().lower() or None) if isinstance(email, str) else None
    record["name"] = _filled(identity.get("name"))
    record["org_name"] = _filled(org.get("name"))
    record["org_title"] = _filled(org.get("title"))
    return record


def _filled(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def read_visitors(
    get: Callable[[str, Mapping[str, Any]], Any], version: ApiVersion
) -> Iterator[list[Any]]:
    """The visitor list page by page (`page` from 1, 100 each) until a short page."""
    path = version.visitors_path
    page = 1
    while True:
        batch = get(path, {"page": page, "per_page": PER_PAGE})
        if not isinstance(batch, list):
            msg = f"Wistia answered GET /{path} with a {type(batch).__name__}, not a list."
            raise WistiaError(msg)
        yield batch
        if len(batch) < PER_PAGE:
            return
        page += 1
