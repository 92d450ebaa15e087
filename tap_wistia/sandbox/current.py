"""What the current Wistia API (``/modern``) does differently from v1 over the same account.

From Wistia's OpenAPI spec (release 2026.03, in ``wistia/wistia-typescript-sdk``) and its
migration guide ("API v1 to API 2026-01"):

- paths have no ``.json`` suffix (``/modern/stats/events``, ``/modern/medias``);
- the release comes in the ``X-Wistia-Api-Version`` header. Without it the newest release is
  served; a month without a release gets the release before it; a release older than every
  supported one gets the oldest supported one. A value that is no month at all is refused here
  with 400 and the spec's error body (what Wistia answers then is undocumented);
- a media is filed in a ``folder`` ``{id, name, hashedId}`` (v1: ``project``) and a
  ``subfolder`` (null when none), and pages by cursor: ``cursor[enabled]=1``, then
  ``cursor[after]`` / ``cursor[before]`` set to a record's ``cursor``; cursors only with
  ``sort_by`` ``id`` or ``created``, never with ``page``; the answer stays a bare JSON array,
  each record with its ``cursor`` (null without cursor pagination);
- the statistics endpoints keep v1's parameters and fields: their answers are the same bytes.

Pure: no I/O; ``api.py`` routes requests here.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "CURSOR_SORTS",
    "RELEASES",
    "ReleaseError",
    "current_media",
    "cursor_of",
    "resolve_release",
    "split_at",
]

RELEASES = ("2026-01", "2026-03", "2026-05")
"""Stable releases of the current API, oldest first (Wistia's documentation lists these)."""
CURSOR_SORTS = ("id", "created")
"""The only ``sort_by`` values cursor pagination supports (the spec's ``sort_by`` text)."""
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


class ReleaseError(ValueError):
    """An ``X-Wistia-Api-Version`` that names no release at all."""


def resolve_release(header: str | None) -> str:
    """The release a request is served, by the migration guide's rules.

    Raises:
        ReleaseError: the header is not a month (``YYYY-MM``).
    """
    if header is None or not header.strip():
        return RELEASES[-1]
    wanted = header.strip()
    if not _MONTH.fullmatch(wanted):
        msg = (
            f"X-Wistia-Api-Version {wanted!r} is not an API version; send a release such as "
            f"{RELEASES[1]} (YYYY-MM)"
        )
        raise ReleaseError(msg)
    earlier = [release for release in RELEASES if release <= wanted]
    return earlier[-1] if earlier else RELEASES[0]


def current_media(v1: Mapping[str, Any]) -> dict[str, Any]:
    """A media as the current API shows it, from its v1 form (``project`` becomes ``folder``)."""
    media = {key: value for key, value in v1.items() if key != "project"}
    media["folder"] = v1.get("project")
    media["subfolder"] = None
    return media


def cursor_of(sort_by: str, media: Mapping[str, Any]) -> str:
    """An opaque cursor for ``media`` (or any listed record) in ``sort_by`` order: its key."""
    key = [sort_by, media[sort_by], media["id"]]
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def split_at(
    cursor: str, sort_by: str, ascending: Sequence[Mapping[str, Any]]
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The medias of ``ascending`` (ascending ``sort_by``) strictly before and after ``cursor``.

    Cursors hold sort keys, not positions, so a cursor stays valid when medias are added or
    deleted.

    Raises:
        ValueError: the cursor is not one of this API's, or was made for another ``sort_by``.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort, value, media_id = msgspec.json.decode(base64.urlsafe_b64decode(padded))
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError):
        msg = f"cursor {cursor!r} is not a cursor of this list"
        raise ValueError(msg) from None
    if sort != sort_by:
        msg = f"cursor {cursor!r} was made for sort_by {sort}, not {sort_by}"
        raise ValueError(msg)
    key = (value, media_id)
    before = [media for media in ascending if (media[sort_by], media["id"]) < key]
    after = [media for media in ascending if (media[sort_by], media["id"]) > key]
    return before, after
