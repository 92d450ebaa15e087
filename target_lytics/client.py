"""The one place that talks HTTP to Lytics: its token, its statuses, its words.

What every API client needs (a session, a deadline for the whole request and a size cap on its
answer, retries with backoff and `Retry-After`, the fast failure on an unreachable host) is
`api_http.client`; this module adds what is Lytics' own. The token travels raw in the
`Authorization` header (never in a URL, a log line or a message). Lytics documents no
rate-limit headers and says "wait and retry" on 429 and 5xx, so 408, 425, 429 and every 5xx
are tried again; other refusals stop the run in Lytics' own words. A stopping run (a signal)
bounds every try and every wait by its deadline (`stopping`).

Collects are sent by `delivery`, the token check and the schema API through `call`; one
request at a time, on the thread that reads the input: the target starts no thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from requests.auth import AuthBase

from api_http.client import ApiClient, ApiErrors, open_session
from target_lytics.answer import describe
from target_lytics.errors import (
    LyticsAnswerLostError,
    LyticsAuthError,
    LyticsRequestError,
    LyticsResponseError,
    LyticsUnavailableError,
)

if TYPE_CHECKING:
    import requests

    from api_http.answers import Answer
    from target_lytics.stopping import StopRequest

DEFAULT_API_URL: Final = "https://api.lytics.io"
#: Lytics' documented limit for the body of `POST /collect/json/{stream}`.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
DEFAULT_ROWS_PER_REQUEST: Final = 10_000

_RETRIABLE_STATUSES: Final = frozenset({408, 425, 429})


def is_retriable(status: int) -> bool:
    """Statuses Lytics (or its edge) uses for "not now": 408, 425, 429 and every 5xx."""
    return status in _RETRIABLE_STATUSES or status >= 500  # noqa: PLR2004


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """What the client needs from the target's settings."""

    api_url: str
    api_token: str = field(repr=False)
    dryrun: bool = False
    rows_per_request: int = DEFAULT_ROWS_PER_REQUEST
    max_request_bytes: int = MAX_REQUEST_BYTES
    request_timeout: float = 60.0
    max_retries: int = 6
    retry_backoff: float = 1.0


class _RawTokenAuth(AuthBase):
    """Lytics' scheme: the raw token as the `Authorization` header (no "Bearer", no URL)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the header to one outgoing request."""
        request.headers["Authorization"] = self._token
        return request

    def __repr__(self) -> str:
        """Never show the token."""
        return "_RawTokenAuth(<hidden>)"


class LyticsClient(ApiClient):
    """HTTP access to one Lytics account, one request at a time."""

    api_name = "Lytics"
    default_url = DEFAULT_API_URL
    sandbox_command = "lytics-sandbox"
    errors = ApiErrors(
        unreachable=LyticsUnavailableError,
        gave_up=LyticsUnavailableError,
        answer_lost=LyticsAnswerLostError,
        answer_refused=LyticsResponseError,
    )
    resume_note = "; the STATE was not advanced, so a later run resends"

    def __init__(
        self,
        settings: ClientSettings,
        *,
        stop: StopRequest | None = None,
        user_agent: str = "target-lytics",
    ) -> None:
        """Prepare one kept-alive connection; nothing is sent until the first call."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        }
        session = open_session(settings.api_url, headers, auth=_RawTokenAuth(settings.api_token))
        super().__init__(
            settings.api_url,
            session,
            timeout=settings.request_timeout,
            max_tries=settings.max_retries + 1,
            backoff_base=settings.retry_backoff,
            logger=logging.getLogger(__name__),
        )
        self.settings = settings
        self.stop = stop
        #: Retries made so far (the delivery's summary counts its own from this).
        self.retries = 0

    # -- Lytics' rules ---------------------------------------------------------------------------

    def refusal(self, answer: Answer, what: str, path: str) -> Exception:  # noqa: ARG002
        """429, 408, 425 and 5xx are worth another try; anything else stops the run."""
        quoted = describe(answer)
        status = answer.status
        if is_retriable(status):
            # 408, 425, 429: refused before acting on it; a 5xx may have acted.
            return self.retry_later(answer, what, quoted, unsent=status < 500)  # noqa: PLR2004
        if status in {401, 403}:
            return LyticsAuthError(
                f"Lytics refused the api_token ({quoted}) for {what}: set api_token to a valid "
                "Lytics API token of the account to write to"
            )
        if 300 <= status < 400:  # noqa: PLR2004
            where = urlsplit(answer.headers.get("Location", "")).hostname or "elsewhere"
            return LyticsRequestError(
                f"Lytics redirected {what} to {where} ({quoted}): set api_url to the API's base URL"
            )
        return LyticsRequestError(f"Lytics refused {what}: {quoted}")

    def try_timeout(self, what: str) -> float:
        """The request timeout, or less once a stop's deadline is nearer."""
        return self.timeout if self.stop is None else self.stop.time_left(self.timeout, what)

    def pause(self, seconds: float, what: str) -> None:
        """Wait before a retry; a stop's deadline ends a wait that would end after it."""
        if self.stop is None:
            super().pause(seconds, what)
        else:
            self.stop.pause(seconds, what)

    def retrying(self, attempt: int, failure: Any, delay: float, what: str) -> None:
        """Log the retry and count it."""
        super().retrying(attempt, failure, delay, what)
        self.retries += 1

    # -- calls -------------------------------------------------------------------------------------

    def call(  # noqa: PLR0913 - one request's parts, keyword-only after the path
        self,
        method: str,
        path: str,
        *,
        what: str,
        payload: Any = None,
        passthrough: frozenset[int] = frozenset(),
        resend: bool = True,
    ) -> tuple[int, Any]:
        """One JSON request to the API, retried like collects; returns (status, decoded body).

        Statuses in ``passthrough`` (say 404) come back for the caller to judge; other
        refusals raise with Lytics' own words. A write that must not be done twice passes
        ``resend=False``: its lost answer is raised, for the caller to read back what Lytics
        holds before sending it again.

        Raises:
            LyticsAnswerLostError: without ``resend``: no answer came (a timeout, 5xx, reset).
            LyticsError: Lytics refused the request, or kept failing until the retries ran out.
        """
        body = None if payload is None else json.dumps(payload).encode()
        answer: Answer = self.request(
            method, path, what=what, body=body,
            passthrough=passthrough, resend=resend,
        )  # fmt: skip
        return answer.status, answer.json()

    def close(self) -> None:
        """Close the kept-alive connection."""
        self.session.close()
