"""Visitor objects (``/v1/stats/visitors.json``) derived from the events a visitor produced.

Wistia keeps a visitor record next to the events; the sandbox derives it from the events so the
two can never disagree: counts, first and last activity, the identity an email gate revealed and
the event that revealed it (``identifying_event_key``, null until then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tap_wistia.sandbox.viewing import utc_stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tap_wistia.sandbox.catalog import VisitorProfile
    from tap_wistia.sandbox.viewing import EventRow

__all__ = ["summarize_visitors"]


class _Sighting(msgspec.Struct):
    """The few event fields a visitor summary reads."""

    percent_viewed: Any = None
    email: Any = None
    conversion_data: Any = None
    user_agent_details: Any = None


_SIGHTING = msgspec.json.Decoder(_Sighting)


def summarize_visitors(
    rows: Iterable[EventRow], profile: Callable[[str], VisitorProfile | None]
) -> dict[str, dict[str, Any]]:
    """Visitor objects by key, from event rows given oldest first.

    ``profile`` finds the generated visitor behind a key, for the company and title a converted
    visitor typed into the gate (events do not carry them).
    """
    summaries: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.visitor_key is not None:
            _sight(summaries, row, profile)
    return summaries


def _sight(
    summaries: dict[str, dict[str, Any]],
    row: EventRow,
    profile: Callable[[str], VisitorProfile | None],
) -> None:
    key = row.visitor_key
    assert key is not None  # noqa: S101 - the caller skips anonymous rows
    seen = _SIGHTING.decode(row.blob)
    stamp = utc_stamp(row.ts_ms)
    summary = summaries.get(key)
    if summary is None:
        summary = summaries[key] = {
            "visitor_key": key,
            "created_at": stamp,
            "last_active_at": stamp,
            "last_event_key": row.key,
            "load_count": 0,
            "play_count": 0,
            "identifying_event_key": None,
            "visitor_identity": {"name": "", "email": None, "org": _org(None)},
            "user_agent_details": seen.user_agent_details,
        }
    summary["last_active_at"] = stamp
    summary["last_event_key"] = row.key
    summary["load_count"] += 1
    percent = seen.percent_viewed
    summary["play_count"] += int(isinstance(percent, (int, float)) and percent > 0)
    summary["user_agent_details"] = seen.user_agent_details
    if isinstance(seen.email, str) and seen.email.strip():
        summary["visitor_identity"] = _identity(seen, profile(key))
        if summary["identifying_event_key"] is None:
            summary["identifying_event_key"] = row.key


def _identity(seen: _Sighting, profile: VisitorProfile | None) -> dict[str, Any]:
    conversion = seen.conversion_data if isinstance(seen.conversion_data, dict) else {}
    name = f"{conversion.get('first_name') or ''} {conversion.get('last_name') or ''}".strip()
    return {"name": name, "email": str(seen.email).strip(), "org": _org(profile)}


def _org(profile: VisitorProfile | None) -> dict[str, str | None]:
    person = profile.person if profile is not None else None
    if person is None:
        return {"name": None, "title": None}
    return {"name": person.company, "title": person.title}
