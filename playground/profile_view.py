"""A merged Lytics profile next to the Wistia events it came from, as ``make demo`` shows it.

Pure text layout: which profiles tell the story best (people who watched anonymously, then
gave their email), the events on the left, the profile's identity and Wistia fields on the
right.
"""

from __future__ import annotations

import textwrap
import unicodedata
from itertools import zip_longest
from typing import Any

__all__ = ["pick_converted", "side_by_side"]

PROFILES_SHOWN = 3
EVENTS_SHOWN = 9
LEFT, RIGHT = 60, 58
"""Columns of the two sides."""


def side_by_side(
    profile: dict[str, Any], events: dict[str, list[dict[str, Any]]], medias: list[dict[str, Any]]
) -> list[str]:
    """The profile's visitors' events (left) and the profile (right), line by line."""
    keys = profile["_ids"].get("wistia_visitor_key", [])
    history = sorted((e for key in keys for e in events[key]), key=lambda e: e["received_at"])
    left = ["Wistia events (oldest first)", *event_lines(history)]
    right = ["Lytics profile", *profile_lines(profile, medias)]
    return [
        f"{_pad(one, LEFT)} | {two}".rstrip() for one, two in zip_longest(left, right, fillvalue="")
    ]


def pick_converted(
    profiles: list[dict[str, Any]], events: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Profiles whose visitor watched anonymously before giving an email, short histories first."""
    candidates = []
    for profile in profiles:
        keys = profile["_ids"].get("wistia_visitor_key", [])
        if not profile["_ids"].get("email") or not keys:
            continue
        history = sorted((e for k in keys for e in events[k]), key=lambda e: e["received_at"])
        medias = {e["media_id"] for e in history}
        if len(history) >= 3 and not history[0].get("email") and len(medias) > 1:  # noqa: PLR2004
            candidates.append((len(history), profile))
    candidates.sort(key=lambda item: item[0])
    return [profile for _, profile in candidates[:PROFILES_SHOWN]]


def event_lines(history: list[dict[str, Any]]) -> list[str]:
    """One line per event: when, which media, how much, and who (anonymous or the email)."""
    lines = []
    for event in history[:EVENTS_SHOWN]:
        percent = event.get("percent_viewed") or 0
        line = (
            f"{event['received_at'][5:16].replace('T', ' ')}  {_pad(event['media_name'], 21)} "
            f"{percent:>4.0%}  "
        )
        lines.append(line + _clip(event.get("email") or "anonymous", LEFT - _columns(line)))
    if len(history) > EVENTS_SHOWN:
        lines.append(f"… and {len(history) - EVENTS_SHOWN} more")
    return lines


def _columns(text: str) -> int:
    """How many terminal columns the text takes: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _clip(text: str, width: int) -> str:
    """The text cut to `width` columns, with "…" where it was cut."""
    if _columns(text) <= width:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        used += _columns(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def _pad(text: str, width: int) -> str:
    """The text cut short and padded to exactly `width` columns, whatever its script."""
    clipped = _clip(text, width)
    return clipped + " " * (width - _columns(clipped))


def profile_lines(profile: dict[str, Any], medias: list[dict[str, Any]]) -> list[str]:
    """The profile's identity and Wistia fields, wrapped to the right column."""
    names = {media["hashed_id"]: media["name"] for media in medias}
    name = " ".join(filter(None, (profile.get("first_name"), profile.get("last_name"))))
    keys = ", ".join(key[:10] + "…" for key in profile["_ids"].get("wistia_visitor_key", []))
    place = ", ".join(
        filter(
            None,
            (
                profile.get("wistia_city"),
                profile.get("wistia_state"),
                profile.get("wistia_country"),
            ),
        )
    )
    percent = profile.get("wisita_media_percent") or {}
    seconds = profile.get("wistia_media_duation") or {}
    lines = [
        f"email        {profile.get('email', '-')}",
        f"name         {name or '-'}",
        f"visitor keys {keys}",
        f"place        {place or '-'}",
        "per media    % viewed, time viewed (latest session):",
    ]
    for media_id in sorted(percent, key=lambda m: names.get(m, m)):
        viewed = seconds.get(media_id)
        time_viewed = f"{viewed / 60:.1f} min" if isinstance(viewed, int | float) else "-"
        media = _pad(names.get(media_id, media_id), 24)
        lines.append(f"  {media} {percent[media_id]:>4.0%} {time_viewed:>9}")
    return [piece for line in lines for piece in textwrap.wrap(line, RIGHT) or [""]]
