"""The demo's profile view keeps its columns whatever script a media name or email is in."""

from __future__ import annotations

import unicodedata

from playground.profile_view import LEFT, side_by_side


def columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def event(minute: int, media_id: str, name: str, email: str | None) -> dict[str, object]:
    return {
        "received_at": f"2026-11-27T09:{minute:02d}:00.000Z",
        "media_id": media_id,
        "media_name": name,
        "percent_viewed": 0.5,
        "email": email,
    }


def test_wide_and_long_names_keep_the_divider_in_one_column():
    medias = [
        {"hashed_id": "m-ja", "name": "製品紹介ビデオとプラットフォームの全体像と導入事例"},
        {"hashed_id": "m-en", "name": "Pricing explained (slides and a long tail of words)"},
    ]
    events = {
        "vk-1": [
            event(1, "m-ja", medias[0]["name"], None),
            event(2, "m-en", medias[1]["name"], "山田太郎@example.jp"),
            event(3, "m-en", medias[1]["name"], "a.very.long.address.indeed@mail.example.net"),
        ]
    }
    profile = {
        "_ids": {"wistia_visitor_key": ["vk-1"], "email": ["ana@example.net"]},
        "email": "ana@example.net",
        "wisita_media_percent": {"m-ja": 1.0, "m-en": 0.93},
        "wistia_media_duation": {"m-ja": 246.0},
    }
    lines = side_by_side(profile, events, medias)
    with_divider = [line for line in lines if " | " in line]
    assert len(with_divider) >= 4
    for line in with_divider:
        assert columns(line.split(" | ", 1)[0]) == LEFT, line
    assert any("製品紹介" in line and "…" in line for line in lines)  # cut, with a mark
