"""The endpoints beyond events, medias and visitors: statistics, folders, tags and captions.

Routed in both APIs as their specs write them (v1 with ``.json``, also accepted without; the
current API without), each with the token permission it needs:

- Read detailed stats: ``/stats/account``, ``/stats/account/by_date``, ``/stats/medias/{id}``
  and its ``/by_date`` and ``/engagement``;
- Read all folder and media data: v1's ``/projects``, the current API's ``/folders`` and
  ``/folders/{folderId}/subfolders``; ``/medias/{id}/captions``;
- Read all data: ``/tags``.

A media the account does not have (or a deleted one) answers 404 with no body on the stats
paths and the captions, as the spec's ``content: {}`` says; an unknown folder 404 with its
``{"error": "Folder with ID … not found."}``. Lists page by number in both APIs (``page``,
``per_page`` at most 100) and by cursor in the current one (``cursor[enabled]``,
``cursor[after]``, ``cursor[before]``, only with the ``sort_by`` values the spec allows for
cursors; mixing ``page`` with a cursor is a 400). ``by_date`` takes ``start_date`` and
``end_date`` (inclusive; without them, yesterday and today) and lists days as the
``daily_listing`` fault says.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from tap_wistia.sandbox.api import (
    ALL_DATA,
    CURRENT,
    MEDIA,
    STATS,
    V1,
    ParamError,
    Reply,
    Route,
    cursor_request,
    cursor_window,
    day_param,
    json_reply,
    paging,
    sort_order,
)
from tap_wistia.sandbox.current import cursor_of
from tap_wistia.sandbox.library import Library
from tap_wistia.sandbox.statistics import Statistics
from tap_wistia.sandbox.viewing import epoch_ms

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tap_wistia.sandbox.account import Account
    from tap_wistia.sandbox.faults import FaultState

__all__ = ["LibraryAndStats"]

_NOT_FOUND = Reply(404)  # the stats and captions 404s: "content: {}"
_ARGUMENT = "([^/]+)"


class _Listing(NamedTuple):
    """How one list sorts: its ``sort_by`` values (and the fields they name), cursors' ones."""

    sorts: tuple[str, ...]
    cursor_sorts: tuple[str, ...]
    default: str
    fields: dict[str, str] = {}  # noqa: RUF012 - a sort_by spelled otherwise than its field

    def field(self, sort_by: str) -> str:
        return self.fields.get(sort_by, sort_by)


_CURSOR_SORTS = ("id", "updated", "created")
_PROJECTS = _Listing(("name", "created", "updated", "mediaCount", "id"), (), "created")
_FOLDERS = _PROJECTS._replace(cursor_sorts=_CURSOR_SORTS, fields={"mediaCount": "media_count"})
_SUBFOLDERS = _Listing(("name", "created", "updated", "position", "id"), ("id",), "position")
_TAGS = _Listing(("name", "created", "updated", "taggingsCount"), _CURSOR_SORTS, "name")


class LibraryAndStats:
    """Routes and answers of the statistics and library endpoints over one account."""

    def __init__(self, account: Account, faults: FaultState) -> None:
        """Derive the library (it never changes); statistics follow the events as they change."""
        self._account = account
        self._faults = faults
        self._statistics = Statistics(account)
        self._library = Library(account)
        self._routes: list[tuple[re.Pattern[str], Route]] = []
        both = (
            ("/stats/account", STATS, self._account_totals),
            ("/stats/account/by_date", STATS, self._account_days),
            ("/stats/medias/{mediaId}", STATS, self._totals),
            ("/stats/medias/{mediaId}/by_date", STATS, self._days),
            ("/stats/medias/{mediaId}/engagement", STATS, self._curve),
            ("/medias/{mediaHashedId}/captions", MEDIA, self._captions),
        )
        for resource, permission, answer in both:
            self._add(f"{V1}{resource}.json", permission, answer, current=False)
            self._add(CURRENT + resource, permission, answer, current=True)
        self._add(f"{V1}/projects.json", MEDIA, self._projects, current=False)
        self._add(f"{CURRENT}/folders", MEDIA, self._folders, current=True)
        self._add(
            f"{CURRENT}/folders/{{folderId}}/subfolders", MEDIA, self._subfolders, current=True
        )
        self._add(f"{V1}/tags.json", ALL_DATA, self._numbered_tags, current=False)
        self._add(f"{CURRENT}/tags", ALL_DATA, self._tags, current=True)

    def _add(
        self, template: str, permission: str, answer: Callable[..., Reply], *, current: bool
    ) -> None:
        pattern = re.compile(re.sub(r"\\\{\w+\\\}", _ARGUMENT, re.escape(template)))
        self._routes.append((pattern, Route(template, permission, answer, current=current)))

    def resolve(self, path: str) -> Route | None:
        """The endpoint a path names, or None (404). v1 paths may leave out ``.json``."""
        if path.startswith(V1 + "/") and not path.endswith(".json"):
            path += ".json"
        for pattern, route in self._routes:
            found = pattern.fullmatch(path)
            if found is not None:
                return route._replace(argument=unquote(found.group(1)) if pattern.groups else "")
        return None

    # ---- statistics -------------------------------------------------------------------------

    def _media(self, media_id: str) -> bool:
        return self._statistics.known(media_id) and media_id not in self._faults.deleted_medias()

    def _totals(self, _: dict[str, str], media_id: str) -> Reply:
        if not self._media(media_id):
            return _NOT_FOUND
        return json_reply(200, self._statistics.totals(media_id))

    def _curve(self, _: dict[str, str], media_id: str) -> Reply:
        if not self._media(media_id):
            return _NOT_FOUND
        return json_reply(200, self._statistics.curve(media_id))

    def _days(self, params: dict[str, str], media_id: str) -> Reply:
        if not self._media(media_id):
            return _NOT_FOUND
        return self._listed_days(params, media_id)

    def _account_totals(self, _: dict[str, str], __: str) -> Reply:
        return json_reply(200, self._statistics.account_totals())

    def _account_days(self, params: dict[str, str], _: str) -> Reply:
        return self._listed_days(params, None)

    def _listed_days(self, params: dict[str, str], media_id: str | None) -> Reply:
        today = self._account.day_of(epoch_ms(datetime.now(UTC)))
        start = day_param(params, "start_date") or today - timedelta(days=1)
        end = day_param(params, "end_date") or today
        if start > end:
            msg = f"start_date {start} is after end_date {end}"
            raise ParamError(msg)
        listing = self._faults.daily_listing
        return json_reply(200, self._statistics.days(media_id, start, end, listing))

    # ---- library ----------------------------------------------------------------------------

    def _projects(self, params: dict[str, str], _: str) -> Reply:
        return json_reply(200, _numbered(params, self._library.projects(), _PROJECTS))

    def _folders(self, params: dict[str, str], _: str) -> Reply:
        return json_reply(200, _listed(params, self._library.folders, _FOLDERS))

    def _subfolders(self, params: dict[str, str], folder: str) -> Reply:
        subfolders = self._library.subfolders.get(folder)
        if subfolders is None:
            return json_reply(404, {"error": f"Folder with ID {folder} not found."})
        return json_reply(200, _listed(params, subfolders, _SUBFOLDERS, hidden=("id",)))

    def _numbered_tags(self, params: dict[str, str], _: str) -> Reply:
        return json_reply(200, _numbered(params, self._library.tags, _TAGS, hidden=("id",)))

    def _tags(self, params: dict[str, str], _: str) -> Reply:
        return json_reply(200, _listed(params, self._library.tags, _TAGS, hidden=("id",)))

    def _captions(self, _: dict[str, str], media_id: str) -> Reply:
        tracks = self._library.captions.get(media_id)
        if tracks is None or media_id in self._faults.deleted_medias():
            return _NOT_FOUND
        return json_reply(200, tracks)


def _numbered(
    params: dict[str, str],
    items: list[dict[str, Any]],
    listing: _Listing,
    *,
    hidden: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """A v1 page: ``page``/``per_page``, ``sort_by``/``sort_direction`` (bad ones: 422)."""
    page, per_page = paging(params)
    ordered = _sorted(params, items, listing)
    return [_shown(item, hidden) for item in ordered[(page - 1) * per_page : page * per_page]]


def _listed(
    params: dict[str, str],
    items: list[dict[str, Any]],
    listing: _Listing,
    *,
    hidden: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """A current-API page: by offset, or by cursor (bad parameters: 400, as its spec says)."""
    cursor = cursor_request(params, listing.cursor_sorts, listing.cursor_sorts[0])
    if cursor is None:
        try:
            page, per_page = paging(params)
            ordered = _sorted(params, items, listing)
        except ParamError as error:
            raise ParamError(str(error), 400) from None
        chosen = ordered[(page - 1) * per_page : page * per_page]
        return [{**_shown(item, hidden), "cursor": None} for item in chosen]
    by_cursor = listing._replace(sorts=listing.cursor_sorts)
    ascending = _sorted({"sort_by": cursor.sort_by}, items, by_cursor)
    return [
        {**_shown(item, hidden), "cursor": cursor_of(cursor.sort_by, item)}
        for item in cursor_window(cursor, ascending)
    ]


def _sorted(
    params: dict[str, str], items: list[dict[str, Any]], listing: _Listing
) -> list[dict[str, Any]]:
    """The items in the ``sort_by``/``sort_direction`` asked (ties by id: a stable order)."""
    sort_by, descending = sort_order(params, listing.sorts, listing.default)
    field = listing.field(sort_by)
    ordered = sorted(items, key=lambda item: (item[field], item.get("id", 0)))
    return ordered[::-1] if descending else ordered


def _shown(item: Mapping[str, Any], hidden: Sequence[str]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key not in hidden}
