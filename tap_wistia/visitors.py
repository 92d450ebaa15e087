"""Visitors: who a viewer is (name, email, organisation) and how much they loaded and played.

`GET /stats/visitors` has no date filter and no sort parameter, so there is no "since the last
run": a read is the whole list, one request per 100 visitors (a million visitors cost 10,000
requests, about 17 minutes of Wistia's 600 requests a minute). A run therefore reads it only when
the last complete read is older than `visitors_refresh_hours`; the time that read began is kept
in the stream's state, and is written only once the read finished, so an interrupted read leaves
the previous mark and the next run reads again.

The record keeps Wistia's fields as they are (`visitor_identity` included) and resolves the
identity next to them: `email` (trimmed, lower-cased, as the activity stream's), `name`,
`org_name` and `org_title`, None when Wistia has none. `visitor_record` is pure; `read_visitors`
pages through the list over the run's client; when a read is due is `tap_wistia.refresh`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_wistia.lists import numbered_pages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from tap_wistia.api_versions import ApiVersion

_PLAIN_FIELDS = (
    "created_at",
    "last_active_at",
    "last_event_key",
    "identifying_event_key",
    "load_count",
    "play_count",
)


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
    return numbered_pages(get, version.visitors_path, {})
