"""Requests and replies as the sandbox's API logic sees them, and Lytics' answer envelope.

A `Request` is the shell's `Exchange` taken apart (path segments, query parameters); a
`Reply` becomes the shell's `Answer` where it leaves the sandbox.

Lytics answers in two shapes (agent-skills ``references/api.md``): ``/api/...`` (and collect)
``{"data": ..., "status": 200, "message": "success"}`` on success and ``{"data": null,
"status": 4xx, "message": ...}`` on errors; ``/v2/...`` ``{"data": ..., "status": 200,
"request_id": ...}`` and ``{"status": 4xx, "errors": [{"code", "message", "level"}],
"request_id": ...}``. A refused token (and an edge failure) is answered before either API, in
the first shape on both. Replies are built in the first shape; `in_v2_shape` turns those of
``/v2`` into the second where the reply leaves the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple, Self
from urllib.parse import parse_qsl, unquote

import msgspec

from sandbox_http.shell import Answer

if TYPE_CHECKING:
    from sandbox_http.shell import Exchange, Wire


class Request(NamedTuple):
    """An HTTP request as the API logic sees it."""

    method: str
    target: str  # the path and query as the client sent them
    path: list[str]
    query: dict[str, str]
    authorization: str | None
    body: bytes
    size: int

    @classmethod
    def of(cls, exchange: Exchange) -> Self:
        """The request the shell read, with its path in segments and its query as a dict."""
        return cls(
            method=exchange.method,
            target=exchange.target,
            path=[unquote(part) for part in exchange.path.strip("/").split("/")],
            query=dict(parse_qsl(exchange.query, keep_blank_values=True)),
            authorization=exchange.headers.get("Authorization"),
            body=exchange.body,
            size=len(exchange.body),
        )


@dataclass(slots=True)
class Reply:
    """What to do with a request: answer it, or (faults) drop or reset the connection."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    wire: Wire = "send"
    edge: bool = False  # answered before the API (a refused token, a fault): /api's shape
    wrote: bool = False  # a write the API did (even if its answer is then lost)

    def answer(self) -> Answer:
        """The shell's answer: the body as JSON, leaving as ``wire`` says."""
        body = b"" if self.body is None else msgspec.json.encode(self.body)
        return Answer(self.status, body, headers=tuple(self.headers.items()), wire=self.wire)


class BadRequestError(ValueError):
    """A request Lytics refuses as a whole (HTTP 400): the message says why."""


def message(status: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    """Lytics' error (or bare status) body."""
    return {"status": status, "message": text or HTTPStatus(status).phrase, **extra}


def success(data: Any, status: int = 200) -> Reply:
    """Lytics' success envelope around ``data``."""
    return Reply(status, {"status": status, "message": "success", "data": data})


#: Lytics' error codes by status, as ``/v2`` errors carry them (``BADREQ-001``, ...).
_CODES = {400: "BADREQ", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOTFOUND", 409: "CONFLICT"}


def in_v2_shape(body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """A body built in ``/api``'s shape, as ``/v2`` answers it."""
    status = int(body.get("status", 200))
    if status < HTTPStatus.BAD_REQUEST:
        return {"data": body.get("data"), "status": status, "request_id": request_id}
    code = f"{_CODES.get(status, 'INTERNAL' if status >= 500 else 'ERROR')}-001"  # noqa: PLR2004
    error = {"code": code, "message": body.get("message") or "", "level": "error"}
    return {"status": status, "errors": [error], "request_id": request_id}


def not_found() -> Reply:
    """Lytics' 404."""
    return Reply(404, message(404, data=None))


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object (an empty body is ``{}``).

    Raises:
        BadRequestError: it is not JSON, or not an object.
    """
    try:
        data = msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError as error:
        msg = f"the body is not valid JSON: {error}"
        raise BadRequestError(msg) from None
    if not isinstance(data, dict):
        msg = "the body must be a JSON object"
        raise BadRequestError(msg)
    return data
