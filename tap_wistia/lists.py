"""Wistia's paged lists (medias, folders, subfolders, tags): page numbers in v1, cursors now.

v1 pages a list by number (`page` from 1, `per_page` at most 100); the current API also offers
cursor pagination (`cursor[enabled]=1`, then `cursor[after]=` the last record's `cursor`), which
its spec advises because a page number shifts when a record is added or deleted meanwhile. A
short page ends a list either way. `pages` picks the one the API offers; `get(path, params)` is
the run's client, so every page goes through the run's one request budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_wistia.client import WistiaError, shaped

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    Get = Callable[[str, Mapping[str, Any]], Any]

PER_PAGE = 100


def pages(
    get: Get, path: str, params: Mapping[str, Any], *, cursor: bool, what: str
) -> Iterator[list[Any]]:
    """Every page of a list: by cursor when `cursor`, else by number. `what` names an item."""
    if cursor:
        return cursor_pages(get, path, params, what=what)
    return numbered_pages(get, path, params)


def numbered_pages(get: Get, path: str, params: Mapping[str, Any]) -> Iterator[list[Any]]:
    """The list page by page (`page` from 1, 100 each) until a short page."""
    number = 1
    while True:
        batch = page(get, path, {**params, "page": number, "per_page": PER_PAGE})
        yield batch
        if len(batch) < PER_PAGE:
            return
        number += 1


def cursor_pages(
    get: Get, path: str, params: Mapping[str, Any], *, what: str
) -> Iterator[list[Any]]:
    """The list by cursor, 100 at a time, until a short page.

    A full page whose last record has no cursor, or one already used, cannot be continued:
    the run stops naming it rather than loop or stop early.
    """
    position: dict[str, Any] = {"cursor[enabled]": 1}
    seen: set[str] = set()
    while True:
        batch = page(get, path, {**params, "per_page": PER_PAGE, **position})
        yield batch
        if len(batch) < PER_PAGE:
            return
        last = batch[-1]
        mark = last.get("cursor") if isinstance(last, dict) else None
        if not isinstance(mark, str) or not mark or mark in seen:
            used = isinstance(mark, str) and mark in seen
            problem = "a cursor already used" if used else "no cursor"
            msg = (
                f"Wistia answered GET /{path} with cursor pagination on but with {problem} on "
                f"the page's last {what}: the list cannot be continued. Leave `api_version` "
                f"empty to read it through v1, and report it to Wistia."
            )
            raise WistiaError(msg)
        seen.add(mark)
        position = {"cursor[after]": mark}


def page(get: Get, path: str, params: Mapping[str, Any]) -> list[Any]:
    """One page, which must be a JSON array."""
    return shaped(get(path, params), list, path, "a list")
