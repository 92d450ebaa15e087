"""Lytics' answers, read whole and described in Lytics' own words (pure: no I/O).

The client reads every answer whole within its deadline and size cap (`api_http.answers`), so
what is judged here is plain data: a status, headers and the body's bytes. Lytics' error bodies
are `{"status", "message", "request_id"}`; some servers (an edge proxy, a hostile one) answer in
text, and some echo the request's `Authorization` header back: every quoted text passes through
`api_http.secrets.redact`, so a token never reaches a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from api_http.secrets import redact
from target_lytics.errors import LyticsResponseError

if TYPE_CHECKING:
    from collections.abc import Mapping

_QUOTED_CHARACTERS = 200


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, read whole."""

    status: int
    reason: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """A 2xx."""
        return 200 <= self.status < 300  # noqa: PLR2004

    def json(self) -> Any:
        """The decoded body, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def describe(answer: Answer) -> str:
    """An answer as a message quotes it: status, Lytics' `message` and `request_id`.

    What the server said is quoted on one line, its first 200 characters.
    """
    body = answer.json()
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("message") or body.get("error") or "").strip()
        if body.get("request_id"):
            detail += f", request_id {body['request_id']}"
    elif answer.body:
        detail = answer.body.decode("utf-8", "replace")
    said = " ".join(detail.split()) or answer.reason or "no message"
    # Masked before it is cut: a token cut in two would no longer be found.
    return f"HTTP {answer.status} {redact(said)[:_QUOTED_CHARACTERS]}"


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
    data = body.get("data") if isinstance(body, dict) else None
    rejected = data.get("rejected_count") if isinstance(data, dict) else None
    if isinstance(rejected, bool) or not isinstance(rejected, int):
        msg = (
            f"Lytics answered a collect of {sent} records without a rejected_count, so their "
            "delivery is unconfirmed; check that api_url points at the Lytics API"
        )
        raise LyticsResponseError(msg)
    count = data.get("message_count") if isinstance(data, dict) else None
    return rejected, count if isinstance(count, int) and not isinstance(count, bool) else None
