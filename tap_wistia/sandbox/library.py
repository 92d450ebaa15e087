"""The account's library: folders (v1: projects) and subfolders, tags, and captions per media.

Derived from the generated medias, so the lists agree with them: each folder is a project the
medias are filed in (`media_count` counts them, `created` is before its first media's and
`updated` its latest media's), each tag one the medias carry (`taggingsCount` medias, dated by
them), and each video or audio may have captions in a few languages (SRT text made from its
title). Subfolders are drawn per folder; the current API files no media in one
(`current_media` says `subfolder: null`), so none is needed to hold any.

Both APIs' shapes, from their specs: v1 writes a project in camelCase (`hashedId`, `mediaCount`,
`publicId`, `anonymousCanUpload`...), the current API a folder in snake_case; a tag is
`{name, taggingsCount, created, updated}` and a caption track `{language, english_name,
native_name, text, is_draft, id}` in both. Pure and deterministic: the same account gives the
same library.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tap_wistia.sandbox.catalog import hashed_id, iso_seconds, seeded

if TYPE_CHECKING:
    from tap_wistia.sandbox.account import Account

__all__ = ["Library"]

LANGUAGES = (
    ("eng", "English", "English"),
    ("fra", "French", "Français"),
    ("deu", "German", "Deutsch"),
    ("spa", "Spanish", "Español"),
    ("jpn", "Japanese", "日本語"),
)
"""Caption languages: ISO 639-2 code, English name, native name."""
SUBFOLDER_NAMES = ("Drafts", "Final cuts", "Webinars 2025", "Social clips", "Archive")


class Library:
    """Folders, subfolders, tags and captions of one account, each list as both APIs serve it."""

    def __init__(self, account: Account) -> None:
        """Derive everything from the account's medias (they never change)."""
        seed = account.spec.seed
        medias = account.medias()
        self.folders = _folders(medias)
        self.subfolders = {
            folder["hashed_id"]: _subfolders(seed, folder) for folder in self.folders
        }
        self.tags = _tags(medias)
        self.captions = {media["hashed_id"]: _captions(seed, media) for media in medias}

    def projects(self) -> list[dict[str, Any]]:
        """The folders as v1 lists them: projects, camelCase."""
        return [
            {
                "id": folder["id"],
                "name": folder["name"],
                "description": folder["description"],
                "mediaCount": folder["media_count"],
                "created": folder["created"],
                "updated": folder["updated"],
                "hashedId": folder["hashed_id"],
                "public": folder["public"],
                "publicId": folder["public_id"],
                "anonymousCanUpload": folder["anonymous_can_upload"],
                "anonymousCanDownload": folder["anonymous_can_download"],
            }
            for folder in self.folders
        ]


def _folders(medias: list[dict[str, Any]]) -> list[dict[str, Any]]:
    filed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    projects: dict[int, dict[str, Any]] = {}
    for media in medias:
        project = media["project"]
        projects[project["id"]] = project
        filed[project["id"]].append(media)
    folders = []
    for folder_id in sorted(projects):
        project, inside = projects[folder_id], filed[folder_id]
        first = min(datetime.fromisoformat(media["created"]) for media in inside)
        folders.append(
            {
                "id": folder_id,
                "name": project["name"],
                "description": f"Everything {project['name']}",
                "media_count": len(inside),
                "medias": [
                    {"id": m["id"], "hashed_id": m["hashed_id"], "name": m["name"]} for m in inside
                ],
                "created": iso_seconds(first - timedelta(days=3)),
                "updated": max(media["updated"] for media in inside),
                "hashed_id": project["hashedId"],
                "public": False,
                "public_id": None,
                "anonymous_can_upload": False,
                "anonymous_can_download": False,
            }
        )
    return folders


def _subfolders(seed: int, folder: dict[str, Any]) -> list[dict[str, Any]]:
    rng = seeded(seed, "subfolders", folder["hashed_id"])
    created = datetime.fromisoformat(folder["created"])
    made = []
    for position, name in enumerate(rng.sample(SUBFOLDER_NAMES, k=rng.randint(0, 3))):
        when = created + timedelta(days=rng.uniform(1, 30))
        made.append(
            {
                "hashed_id": hashed_id(rng),
                "name": name,
                "description": None,
                "position": position,
                "created": iso_seconds(when),
                "updated": iso_seconds(when + timedelta(days=rng.uniform(0, 5))),
                "id": 9_000_000 + rng.randrange(900_000),  # a sort key: not served
            }
        )
    return made


def _tags(medias: list[dict[str, Any]]) -> list[dict[str, Any]]:
    carrying: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for media in medias:
        for tag in media["tags"]:
            carrying[tag["name"]].append(media)
    return [
        {
            "name": name,
            "taggingsCount": len(tagged),
            "created": min(media["created"] for media in tagged),
            "updated": max(media["updated"] for media in tagged),
            "id": position,  # a sort key for cursors: not served
        }
        for position, (name, tagged) in enumerate(sorted(carrying.items()))
    ]


def _captions(seed: int, media: dict[str, Any]) -> list[dict[str, Any]]:
    """A video's or audio's caption tracks (none for documents and images)."""
    if media["type"] not in ("Video", "Audio"):
        return []
    rng = seeded(seed, "captions", media["hashed_id"])
    tracks = []
    for code, english, native in rng.sample(LANGUAGES, k=rng.choice((0, 1, 1, 2, 3))):
        tracks.append(
            {
                "english_name": english,
                "native_name": native,
                "language": code,
                "text": _srt(media["name"], code),
                "is_draft": rng.random() < 0.2,  # noqa: PLR2004 - a few drafts
                "id": hashed_id(rng),
            }
        )
    return tracks


def _srt(title: str, language: str) -> str:
    """Two cues of SRT naming the media (what a caption file of it could say)."""
    return (
        f"1\n00:00:00,000 --> 00:00:04,000\n{title}\n\n"
        f"2\n00:00:04,000 --> 00:00:08,000\n[{language}] Welcome, and thanks for watching.\n"
    )
