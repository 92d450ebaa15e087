"""The Wistia Data API over an ``Account``, v1 and the current API: routes, auth, parameters.

Both APIs serve the one account. v1 lives under ``/v1`` (paths with or without ``.json``, as
Wistia's guide shows both), the current API under ``/modern`` (paths exactly as its OpenAPI spec
writes them, release in ``X-Wistia-Api-Version``; see ``current.py`` for what differs).

Transport-free on purpose: a path, a query string and the request's headers in, a ``Reply`` out.
The HTTP shell (``server.py``) wraps latency, the rate limit and wire-level faults around it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote

import msgspec

from tap_wistia.sandbox.current import (
    CURSOR_SORTS,
    ReleaseError,
    current_media,
    cursor_of,
    resolve_release,
    split_at,
)
from tap_wistia.sandbox.days import EventQuery

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tap_wistia.sandbox.account import Account
    from tap_wistia.sandbox.faults import FaultState

__all__ = [
    "ALL_DATA",
    "DEFAULT_TOKENS",
    "MEDIA",
    "SANDBOX_TOKEN",
    "STATS",
    "CursorRequest",
    "ParamError",
    "Reply",
    "Route",
    "WistiaApi",
    "check_cursor_enabled",
    "cursor_request",
    "cursor_window",
    "day_param",
    "json_reply",
    "paging",
    "sort_order",
]

STATS = "stats"
MEDIA = "media"
ALL_DATA = "all_data"
"""What the tag list needs ("Read all data" in Wistia's spec); it stands for no other."""
PERMISSION_NAMES = {
    STATS: "Read detailed stats",
    MEDIA: "Read all folder and media data",
    ALL_DATA: "Read all data",
}
SANDBOX_TOKEN = "sandbox-wistia-token"  # noqa: S105 - the sandbox's published demo token
DEFAULT_TOKENS: Mapping[str, frozenset[str]] = {
    SANDBOX_TOKEN: frozenset({STATS, MEDIA, ALL_DATA}),
    "sandbox-stats-only": frozenset({STATS}),
    "sandbox-media-only": frozenset({MEDIA}),
}
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
V1 = "/v1"
CURRENT = "/modern"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MEDIA_SORTS = ("name", "created", "updated", "position")
_CURSOR_PARAMS = ("cursor[enabled]", "cursor[before]", "cursor[after]")
_VISITOR_FILTERS = ("has_email", "has_name", "identified_by_email_gate")


class Reply(NamedTuple):
    """An answer to send: status, body, extra headers, and the event keys the body holds.

    ``day_past``: the one day past an events page lists (None: a span, or the newest day), the
    day the ``*_while_paging`` faults change once the page is served.
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    event_keys: Sequence[str] = ()
    events_page: bool = False
    content_type: str = JSON_TYPE
    day_past: date | None = None


def json_reply(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer."""
    return Reply(status, msgspec.json.encode(value), headers)


def text_reply(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A plain-text answer (Wistia's 429 is ``text/plain``: "Rate limit exceeded")."""
    return Reply(status, text.encode(), headers, content_type=TEXT_TYPE)


class ParamError(ValueError):
    """A query parameter Wistia refuses (422, or 400 where its spec says so); names it."""

    def __init__(self, message: str, status: int = 422) -> None:
        """Keep the status the endpoint answers bad parameters with."""
        super().__init__(message)
        self.status = status


class Route(NamedTuple):
    """A matched endpoint: its template (for stats), permission, handler and path argument.

    ``current`` marks the current API's routes, which read ``X-Wistia-Api-Version``.
    """

    template: str
    permission: str
    answer: Callable[[dict[str, str], str], Reply]
    argument: str = ""
    current: bool = False


class WistiaApi:
    """The v1 endpoints the project reads, answering from an account and the faults in force."""

    def __init__(
        self,
        account: Account,
        faults: FaultState,
        tokens: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """Pre-encode the medias (they never change) and keep the token table."""
        self.account = account
        self._faults = faults
        self._tokens = dict(DEFAULT_TOKENS if tokens is None else tokens)
        medias = account.medias()
        self._archived = frozenset(media["hashed_id"] for media in medias if media["archived"])
        for position, media in enumerate(medias):
            media["position"] = position  # a sort key only: not a field of a media
        self._medias_v1 = {media["hashed_id"]: media for media in medias}
        self._media_json = {
            media["hashed_id"]: msgspec.json.encode(_without_position(media)) for media in medias
        }
        self._current_media_json = {
            media["hashed_id"]: msgspec.json.encode(current_media(_without_position(media)))
            for media in medias
        }
        self._media_orders = {sort_by: _media_order(medias, sort_by) for sort_by in _MEDIA_SORTS}
        self._media_orders["id"] = _media_order(medias, "id")
        self._lists: dict[str, Route] = {}
        self._items: list[tuple[str, Route]] = []
        self._add(
            "/stats/events",
            STATS,
            self._events,
            self._event,
            v1_name="event_key",
            current_name="eventKey",
        )
        self._add(
            "/medias",
            MEDIA,
            self._medias,
            self._media,
            v1_name="hashed_id",
            current_name="mediaHashedId",
        )
        self._lists[CURRENT + "/medias"] = Route(
            CURRENT + "/medias", MEDIA, self._current_medias, current=True
        )
        self._add(
            "/stats/visitors",
            STATS,
            self._visitors,
            self._visitor,
            v1_name="visitor_key",
            current_name="visitorKey",
        )

    def _add(  # noqa: PLR0913 - one endpoint pair, named as each API's documents name it
        self,
        resource: str,
        permission: str,
        listing: Callable[[dict[str, str], str], Reply],
        item: Callable[[dict[str, str], str], Reply],
        *,
        v1_name: str,
        current_name: str,
    ) -> None:
        """Route a list and its items in both APIs (v1 with ``.json``, the current API without).

        An item's template names its argument as each API's spec does (``{event_key}`` in v1,
        ``{eventKey}`` in the current API).
        """
        v1_list = f"{V1}{resource}.json"
        current_list = CURRENT + resource
        self._lists[v1_list] = Route(v1_list, permission, listing)
        self._lists[current_list] = Route(current_list, permission, listing, current=True)
        self._items.append(
            (f"{V1}{resource}/", Route(f"{V1}{resource}/{{{v1_name}}}.json", permission, item))
        )
        self._items.append(
            (
                f"{CURRENT}{resource}/",
                Route(f"{CURRENT}{resource}/{{{current_name}}}", permission, item, current=True),
            )
        )

    # ---- routing and auth -------------------------------------------------------------------

    def resolve(self, path: str) -> Route | None:
        """The endpoint a path names, or None (404).

        v1 paths may leave out ``.json`` (Wistia's migration guide writes ``/v1/medias``); the
        current API's never carry it.
        """
        v1 = path.startswith(V1 + "/")
        if v1 and not path.endswith(".json"):
            path += ".json"
        route = self._lists.get(path)
        if route is not None:
            return route
        for prefix, item in self._items:
            if not path.startswith(prefix) or v1 != (not item.current):
                continue
            argument = path[len(prefix) :]
            if v1:
                argument = argument.removesuffix(".json")
            argument = unquote(argument)
            if argument and "/" not in argument:
                return item._replace(argument=argument)
        return None

    def check_release(self, route: Route, header: str | None) -> Reply | None:
        """None when the current API can serve the release asked for (v1 ignores the header)."""
        if not route.current:
            return None
        try:
            resolve_release(header)
        except ReleaseError as error:
            return json_reply(400, {"error": str(error)})
        return None

    def authorize(self, authorization: str | None, permission: str) -> Reply | None:
        """None when the bearer token may use the endpoint, else Wistia's 401/403 answer.

        Only ``Authorization: Bearer <token>`` counts: ``?api_password=`` was removed in 2022
        and HTTP Basic is unreliable, so both are treated as no credentials at all. As Wistia's
        spec says: a token lacking the permission is a 401 ``unauthorized_scope``; a valid
        token whose account's plan lacks the feature (``plan_lacks``) a 403.
        """
        scheme, _, token = (authorization or "").strip().partition(" ")
        granted = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if granted is None:
            return json_reply(
                401, {"code": "unauthorized_credentials", "error": "Invalid credentials."}
            )
        if permission not in granted:
            return json_reply(401, {"code": "unauthorized_scope", "error": "Invalid credentials."})
        if self._faults.plan_lacks(permission):
            feature = "Stats" if permission == STATS else "Medias"
            return json_reply(403, {"error": f"{feature} are not available on your current plan"})
        return None

    def answer(self, route: Route, query: str) -> Reply:
        """The endpoint's answer; bad parameters give 422 naming the parameter."""
        params = {
            name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()
        }
        try:
            return route.answer(params, route.argument)
        except ParamError as error:
            return json_reply(error.status, {"error": str(error)})

    # ---- events -----------------------------------------------------------------------------

    def _events(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = paging(params)
        start, end = day_param(params, "start_date"), day_param(params, "end_date")
        if start and end and start > end:
            msg = f"start_date {start} is after end_date {end}"
            raise ParamError(msg)
        if end is not None and self._faults.exclusive_end:
            end -= timedelta(days=1)  # the listing stops before end_date
            if start is not None and end < start:
                return Reply(200, b"[]", events_page=True)
        query = EventQuery(
            start=start,
            end=end,
            media_id=params.get("media_id") or None,
            visitor_key=params.get("visitor_key") or None,
        )
        account = self.account
        rows = account.page(query, page, per_page, order=self._faults.events_order)
        newest = account.last_day
        covers_newest = (start is None or start <= newest) and (end is None or end >= newest)
        if self._faults.endless_day and covers_newest and len(rows) < per_page:
            first = (page - 1) * per_page + len(rows)  # past the day's real events
            rows = [*rows, *account.endless_rows(newest, first, per_page - len(rows))]
        one_day = start is not None and start == end and end < newest
        body = b"[" + b",".join([row.blob for row in rows]) + b"]"
        return Reply(
            200,
            body,
            event_keys=[row.key for row in rows],
            events_page=True,
            day_past=start if one_day else None,
        )

    def _event(self, _: dict[str, str], event_key: str) -> Reply:
        blob = self.account.event_blob(event_key)
        if blob is None:
            return Reply(404)
        return Reply(200, blob, event_keys=(event_key,))

    # ---- medias -----------------------------------------------------------------------------

    def _medias(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = paging(params)
        order = self._ordered(params, _MEDIA_SORTS)
        chosen = order[(page - 1) * per_page : page * per_page]
        return Reply(200, b"[" + b",".join([self._media_json[media] for media in chosen]) + b"]")

    def _media(self, _: dict[str, str], hashed_id: str) -> Reply:
        body = self._media_json.get(hashed_id)
        if body is None or hashed_id in self._faults.deleted_medias():
            return json_reply(404, {"error": "Media not found."})
        return Reply(200, body)

    def _current_medias(self, params: dict[str, str], _: str) -> Reply:
        """``GET /modern/medias``: offset pages as v1, or cursor pages (bad parameters: 400)."""
        cursor = cursor_request(params, CURSOR_SORTS, "created")
        try:
            if cursor is None:
                page, per_page = paging(params)
                order = self._ordered(params, _MEDIA_SORTS)
                return self._current_page(order[(page - 1) * per_page : page * per_page], None)
            listed = self._ordered({"sort_by": cursor.sort_by, **_archived_only(params)}, ())
        except ParamError as error:
            raise ParamError(str(error), 400) from None
        chosen = cursor_window(cursor, [self._medias_v1[media] for media in listed])
        return self._current_page([media["hashed_id"] for media in chosen], cursor.sort_by)

    def _listed(self, params: dict[str, str]) -> Callable[[str], bool]:
        """Which medias the ``archived`` filter lists: true, false, or absent (a fault says).

        Wistia's spec: true lists only archived medias, false only active ones; without it,
        undocumented (``archived_listing``).
        """
        archived = params.get("archived")
        if archived is None:
            if self._faults.lists_archived:
                return lambda _: True
            return lambda media: media not in self._archived
        if archived not in ("true", "false", "1", "0"):
            msg = f"archived must be true or false, got {archived!r}"
            raise ParamError(msg)
        wanted = archived in ("true", "1")
        return lambda media: (media in self._archived) == wanted

    def _ordered(self, params: dict[str, str], sorts: Sequence[str]) -> list[str]:
        """Hashed ids of the medias listed, in the ``sort_by``/``sort_direction`` asked."""
        sort_by, descending = sort_order(params, sorts, "created")
        deleted = self._faults.deleted_medias()
        listed = self._listed(params)
        order = [
            media for media in self._media_orders[sort_by] if media not in deleted and listed(media)
        ]
        if descending:
            order.reverse()
        return order

    def _current_page(self, chosen: Sequence[str], sort_by: str | None) -> Reply:
        """A bare array of current-API medias, each with its ``cursor`` (null without one)."""
        parts = []
        for hashed_id in chosen:
            cursor = None if sort_by is None else cursor_of(sort_by, self._medias_v1[hashed_id])
            body = self._current_media_json[hashed_id]
            parts.append(body[:-1] + b',"cursor":' + msgspec.json.encode(cursor) + b"}")
        return Reply(200, b"[" + b",".join(parts) + b"]")

    # ---- visitors ---------------------------------------------------------------------------

    def _visitors(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = paging(params)
        wanted = params.get("filter") or None
        if wanted is not None and wanted not in _VISITOR_FILTERS:
            msg = f"filter must be one of {', '.join(_VISITOR_FILTERS)}, got {wanted!r}"
            raise ParamError(msg)
        visitors = self.account.visitors()
        if wanted == "has_name":
            visitors = [visitor for visitor in visitors if visitor["visitor_identity"]["name"]]
        elif wanted is not None:
            visitors = [visitor for visitor in visitors if visitor["visitor_identity"]["email"]]
        return json_reply(200, visitors[(page - 1) * per_page : page * per_page])

    def _visitor(self, _: dict[str, str], visitor_key: str) -> Reply:
        visitor = self.account.visitor(visitor_key)
        if visitor is None:
            return json_reply(404, {"error": "Visitor not found."})
        return json_reply(200, visitor)


def _archived_only(params: dict[str, str]) -> dict[str, str]:
    """The ``archived`` filter of a query, if it has one."""
    return {"archived": params["archived"]} if "archived" in params else {}


def _without_position(media: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in media.items() if key != "position"}


def check_cursor_enabled(params: dict[str, str]) -> None:
    """``cursor[enabled]`` is 0 or 1 when given (else a 400, as the current API's spec says)."""
    enabled = params.get("cursor[enabled]")
    if enabled is not None and enabled not in ("0", "1"):
        msg = f"cursor[enabled] must be 0 or 1, got {enabled!r}"
        raise ParamError(msg, 400)


class CursorRequest(NamedTuple):
    """A current-API listing's cursor pagination, as asked and checked."""

    sort_by: str
    descending: bool
    per_page: int
    after: str | None
    before: str | None


def cursor_request(
    params: dict[str, str], sorts: Sequence[str], default: str
) -> CursorRequest | None:
    """The cursor pagination a current-API listing is asked for; None: offset pages.

    The spec's rules, each refused with a 400: ``cursor[enabled]`` 0 or 1, no ``page`` with a
    cursor, not both ``cursor[before]`` and ``cursor[after]``, only ``sorts`` for ``sort_by``.
    """
    check_cursor_enabled(params)
    after, before = params.get("cursor[after]"), params.get("cursor[before]")
    if not any(name in params for name in _CURSOR_PARAMS) or (
        params.get("cursor[enabled]") == "0" and after is None and before is None
    ):
        return None
    if "page" in params:
        msg = "page cannot be combined with cursor pagination (cursor[...])"
        raise ParamError(msg, 400)
    if after is not None and before is not None:
        msg = "cursor[before] and cursor[after] cannot be combined"
        raise ParamError(msg, 400)
    sort_by = params.get("sort_by", default)
    if sort_by not in sorts:
        msg = (
            f"sort_by {sort_by!r} requires offset pagination; with a cursor only "
            f"{' and '.join(sorts)} are supported"
        )
        raise ParamError(msg, 400)
    try:
        per_page = paging({"per_page": params.get("per_page", str(DEFAULT_PER_PAGE))})[1]
        _, descending = sort_order(params, sorts, sort_by)
    except ParamError as error:
        raise ParamError(str(error), 400) from None
    return CursorRequest(sort_by, descending, per_page, after, before)


def cursor_window(
    request: CursorRequest, ascending: Sequence[Mapping[str, Any]]
) -> Sequence[Mapping[str, Any]]:
    """The records of the page after or before the cursor (the first page without), in order.

    ``ascending`` is the whole listing in ascending ``sort_by`` order.
    """
    if request.after is None and request.before is None:
        return (ascending[::-1] if request.descending else ascending)[: request.per_page]
    cursor = request.after if request.after is not None else str(request.before)
    try:
        lower, higher = split_at(cursor, request.sort_by, ascending)
    except ValueError as error:
        raise ParamError(str(error), 400) from None
    if request.descending:  # the list runs from high keys to low ones
        lower, higher = higher[::-1], lower[::-1]
    return higher[: request.per_page] if request.after is not None else lower[-request.per_page :]


def _media_order(medias: list[dict[str, Any]], sort_by: str) -> list[str]:
    """Hashed ids in ascending ``sort_by`` order, ties in creation order."""
    ordered = sorted(medias, key=lambda media: (media[sort_by], media["created"], media["id"]))
    return [media["hashed_id"] for media in ordered]


def _whole(params: dict[str, str], name: str, default: int, lowest: int = 1) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < lowest:
        kind = "positive" if lowest else "non-negative"
        msg = f"{name} must be a {kind} integer, got {value!r}"
        raise ParamError(msg)
    return int(value)


def sort_order(params: dict[str, str], sorts: Sequence[str], default: str) -> tuple[str, bool]:
    """``sort_by`` (one of ``sorts``, any when empty) and whether ``sort_direction`` is 0."""
    sort_by = params.get("sort_by", default)
    if sorts and sort_by not in sorts:
        msg = f"sort_by must be one of {', '.join(sorts)}, got {sort_by!r}"
        raise ParamError(msg)
    direction = params.get("sort_direction", "1")
    if direction not in ("0", "1"):
        msg = f"sort_direction must be 0 (descending) or 1 (ascending), got {direction!r}"
        raise ParamError(msg)
    return sort_by, direction == "0"


def paging(params: dict[str, str]) -> tuple[int, int]:
    """Page (1-based; 0 is served as 1, as Wistia does) and per_page (default 10, capped at 100)."""
    page = max(1, _whole(params, "page", 1, lowest=0))
    return page, min(_whole(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)


def day_param(params: dict[str, str], name: str) -> date | None:
    """A ``YYYY-MM-DD`` parameter (None when absent; anything else is a 422 naming it)."""
    value = params.get(name)
    if value is None:
        return None
    try:
        if not _DAY.fullmatch(value):
            raise ValueError(value)  # noqa: TRY301 - one message for both kinds of bad date
        return date.fromisoformat(value)
    except ValueError:
        msg = f"{name} must be a date as YYYY-MM-DD, got {value!r}"
        raise ParamError(msg) from None
