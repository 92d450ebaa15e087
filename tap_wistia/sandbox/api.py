"""The Wistia Data API v1 endpoints over an ``Account``: routes, auth, parameters and bodies.

Transport-free on purpose: a path, a query string and an Authorization header in, a ``Reply`` out.
The HTTP shell (``server.py``) wraps latency, the rate limit and wire-level faults around it.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote

import msgspec

from tap_wistia.sandbox.account import EventQuery

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tap_wistia.sandbox.account import Account
    from tap_wistia.sandbox.faults import FaultState

__all__ = [
    "DEFAULT_TOKENS",
    "SANDBOX_TOKEN",
    "ParamError",
    "Reply",
    "Route",
    "WistiaApi",
    "json_reply",
]

STATS = "stats"
MEDIA = "media"
PERMISSION_NAMES = {STATS: "Read detailed stats", MEDIA: "Read all folder and media data"}
SANDBOX_TOKEN = "sandbox-wistia-token"  # noqa: S105 - the sandbox's published demo token
DEFAULT_TOKENS: Mapping[str, frozenset[str]] = {
    SANDBOX_TOKEN: frozenset({STATS, MEDIA}),
    "sandbox-stats-only": frozenset({STATS}),
    "sandbox-media-only": frozenset({MEDIA}),
}
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
JSON_TYPE = "application/json; charset=utf-8"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MEDIA_SORTS = ("name", "created", "updated")
_VISITOR_FILTERS = ("has_email", "has_name", "identified_by_email_gate")


class Reply(NamedTuple):
    """An answer to send: status, body, extra headers, and the event keys the body holds."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    event_keys: Sequence[str] = ()
    events_page: bool = False


def json_reply(status: int, value: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    """A JSON answer."""
    return Reply(status, msgspec.json.encode(value), headers)


class ParamError(ValueError):
    """A query parameter Wistia would answer 422 for; the message names the parameter."""


class Route(NamedTuple):
    """A matched endpoint: its template (for stats), permission, handler and path argument."""

    template: str
    permission: str
    answer: Callable[[dict[str, str], str], Reply]
    argument: str = ""


class WistiaApi:
    """The v1 endpoints the project reads, answering from an account and the faults in force."""

    def __init__(
        self,
        account: Account,
        faults: FaultState,
        tokens: Mapping[str, frozenset[str]] | None = None,
        scope_error_status: int = 401,
    ) -> None:
        """Pre-encode the medias (they never change) and keep the token table."""
        if scope_error_status not in (401, 403):
            msg = f"scope_error_status must be 401 or 403, got {scope_error_status}"
            raise ValueError(msg)
        self.account = account
        self._faults = faults
        self._tokens = dict(DEFAULT_TOKENS if tokens is None else tokens)
        self._scope_error_status = scope_error_status
        medias = account.medias()
        self._media_json = {media["hashed_id"]: msgspec.json.encode(media) for media in medias}
        self._media_orders = {sort_by: _media_order(medias, sort_by) for sort_by in _MEDIA_SORTS}
        self._lists = {
            "/v1/stats/events.json": Route("/v1/stats/events.json", STATS, self._events),
            "/v1/medias.json": Route("/v1/medias.json", MEDIA, self._medias),
            "/v1/stats/visitors.json": Route("/v1/stats/visitors.json", STATS, self._visitors),
        }
        self._items: tuple[tuple[str, str, str, Callable[[dict[str, str], str], Reply]], ...] = (
            ("/v1/stats/events/", "/v1/stats/events/{event_key}.json", STATS, self._event),
            ("/v1/medias/", "/v1/medias/{hashed_id}.json", MEDIA, self._media),
            ("/v1/stats/visitors/", "/v1/stats/visitors/{visitor_key}.json", STATS, self._visitor),
        )

    # ---- routing and auth -------------------------------------------------------------------

    def resolve(self, path: str) -> Route | None:
        """The endpoint a path names, or None (404)."""
        route = self._lists.get(path)
        if route is not None:
            return route
        for prefix, template, permission, answer in self._items:
            if path.startswith(prefix) and path.endswith(".json"):
                argument = unquote(path[len(prefix) : -len(".json")])
                if argument and "/" not in argument:
                    return Route(template, permission, answer, argument)
        return None

    def authorize(self, authorization: str | None, permission: str) -> Reply | None:
        """None when the bearer token may use the endpoint, else Wistia's 401/403 answer.

        Only ``Authorization: Bearer <token>`` counts: ``?api_password=`` was removed in 2022
        and HTTP Basic is unreliable, so both are treated as no credentials at all.
        """
        scheme, _, token = (authorization or "").strip().partition(" ")
        granted = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if granted is None:
            return json_reply(
                401, {"code": "unauthorized_credentials", "error": "Invalid credentials."}
            )
        if permission in granted:
            return None
        if self._scope_error_status == 403:  # noqa: PLR2004 - the alternative Wistia may use
            needed = PERMISSION_NAMES[permission]
            return json_reply(403, {"error": f'This API token lacks the "{needed}" permission.'})
        return json_reply(401, {"code": "unauthorized_scope", "error": "Invalid credentials."})

    def answer(self, route: Route, query: str) -> Reply:
        """The endpoint's answer; bad parameters give 422 naming the parameter."""
        params = {
            name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()
        }
        try:
            return route.answer(params, route.argument)
        except ParamError as error:
            return json_reply(422, {"error": str(error)})

    # ---- events -----------------------------------------------------------------------------

    def _events(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = _paging(params)
        start, end = _day(params, "start_date"), _day(params, "end_date")
        if start and end and start > end:
            msg = f"start_date {start} is after end_date {end}"
            raise ParamError(msg)
        query = EventQuery(
            start=start,
            end=end,
            media_id=params.get("media_id") or None,
            visitor_key=params.get("visitor_key") or None,
        )
        rows = self.account.page(query, page, per_page, oldest_first=self._faults.oldest_first)
        body = b"[" + b",".join([row.blob for row in rows]) + b"]"
        return Reply(200, body, event_keys=[row.key for row in rows], events_page=True)

    def _event(self, _: dict[str, str], event_key: str) -> Reply:
        blob = self.account.event_blob(event_key)
        if blob is None:
            return Reply(404)
        return Reply(200, blob, event_keys=(event_key,))

    # ---- medias -----------------------------------------------------------------------------

    def _medias(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = _paging(params)
        sort_by = params.get("sort_by", "created")
        if sort_by not in _MEDIA_SORTS:
            msg = f"sort_by must be one of {', '.join(_MEDIA_SORTS)}, got {sort_by!r}"
            raise ParamError(msg)
        direction = params.get("sort_direction", "1")
        if direction not in ("0", "1"):
            msg = f"sort_direction must be 0 (descending) or 1 (ascending), got {direction!r}"
            raise ParamError(msg)
        deleted = self._faults.deleted_medias()
        order = [media for media in self._media_orders[sort_by] if media not in deleted]
        if direction == "0":
            order.reverse()
        chosen = order[(page - 1) * per_page : page * per_page]
        return Reply(200, b"[" + b",".join([self._media_json[media] for media in chosen]) + b"]")

    def _media(self, _: dict[str, str], hashed_id: str) -> Reply:
        body = self._media_json.get(hashed_id)
        if body is None or hashed_id in self._faults.deleted_medias():
            return json_reply(404, {"error": "Media not found."})
        return Reply(200, body)

    # ---- visitors ---------------------------------------------------------------------------

    def _visitors(self, params: dict[str, str], _: str) -> Reply:
        page, per_page = _paging(params)
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


def _media_order(medias: list[dict[str, Any]], sort_by: str) -> list[str]:
    """Hashed ids in ascending ``sort_by`` order, ties in creation order."""
    ordered = sorted(medias, key=lambda media: (media[sort_by], media["created"], media["id"]))
    return [media["hashed_id"] for media in ordered]


def _whole(params: dict[str, str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise ParamError(msg)
    return int(value)


def _paging(params: dict[str, str]) -> tuple[int, int]:
    """Page (1-based) and per_page (default 10; above 100 means 100, as Wistia caps it)."""
    return _whole(params, "page", 1), min(
        _whole(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE
    )


def _day(params: dict[str, str], name: str) -> date | None:
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
