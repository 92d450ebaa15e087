"""Lytics' answers, read whole and described in Lytics' own words (pure: no I/O).

The client reads every answer whole within its deadline and size cap (`api_http.answers`), so
what is judged here is plain data: an `Answer`'s status, headers and body. Lytics answers errors
in two shapes: `/v2/...` as `{"status", "errors": [{"code", "message", "level"}],
"request_id"}` (its words are `.errors[0].message`), `/api/...` and collect as `{"status",
"message", "request_id"}` (`.message`); a refused token comes in the second shape on both. Some
servers (an edge proxy, a hostile one) answer in text, and some echo the request's
`Authorization` header back: every quoted text passes through `api_http.secrets.redact`, so a
token never reaches a message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api_http.secrets import redact
from target_lytics.errors import LyticsResponseError

if TYPE_CHECKING:
    from api_http.answers import Answer

_QUOTED_CHARACTERS = 200


def lytics_words(body: Any) -> str:
    """What Lytics said in an error body: `.errors[0].message` (/v2), else `.message` (/api)."""
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict) and first.get("message"):
        return str(first["message"]).strip()
    if isinstance(first, str) and first.strip():
        return first.strip()
    return str(body.get("message") or body.get("error") or "").strip()


def describe(answer: Answer) -> str:
    """An answer as a message quotes it: status, Lytics' own words and the `request_id`.

    What the server said is quoted on one line, its first 200 characters.
    """
    body = answer.json()
    if isinstance(body, dict):
        return quote(answer.status, body, answer.reason)
    text = answer.body.decode("utf-8", "replace") if answer.body else ""
    return _quoted(answer.status, text or answer.reason)


def quote(status: int, body: Any, reason: str = "") -> str:
    """A decoded error body as a message quotes it: ``HTTP 403 Not authorized, request_id r1``."""
    detail = lytics_words(body)
    if isinstance(body, dict) and body.get("request_id"):
        detail += f", request_id {body['request_id']}"
    return _quoted(status, detail or reason)


def _quoted(status: int, detail: str) -> str:
    said = " ".join(detail.split()) or "no message"
    # Masked before it is cut: a token cut in two would no longer be found.
    return f"HTTP {status} {redact(said)[:_QUOTED_CHARACTERS]}"


def data_of(body: Any) -> Any:
    """The answer's ``data`` (both envelopes carry it), None when the body has none."""
    return body.get("data") if isinstance(body, dict) else None


def folded_keys(entry: dict[str, Any]) -> dict[str, Any]:
    """An object's keys folded to one spelling: ``MergeOp``, ``mergeop``, ``merge_op`` alike."""
    return {str(key).lower().replace("_", ""): value for key, value in entry.items()}


def request_id(body: Any) -> str | None:
    """The answer's `request_id`, for a message a user can give to Lytics' support."""
    value = body.get("request_id") if isinstance(body, dict) else None
    return str(value) if value else None


def collect_counts(body: Any, sent: int) -> tuple[int, int | None]:
    """(`rejected_count`, `message_count`) of a collect answer; raise if it confirms nothing.

    Lytics' SDKs require only the two counts; `message_count` may be absent (None).

    Raises:
        LyticsResponseError: the answer has no `data.rejected_count`, so delivery is unconfirmed.
    """
    data = data_of(body)
    rejected = data.get("rejected_count") if isinstance(data, dict) else None
    if isinstance(rejected, bool) or not isinstance(rejected, int):
        msg = (
            f"Lytics answered a collect of {sent} records without a rejected_count, so their "
            "delivery is unconfirmed; check that api_url points at the Lytics API"
        )
        raise LyticsResponseError(msg)
    count = data.get("message_count") if isinstance(data, dict) else None
    return rejected, count if isinstance(count, int) and not isinstance(count, bool) else None
